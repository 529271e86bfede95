"""Restart-proof buttons every cog uses.

Buttons are ``DynamicItem``s: their state lives in the custom_id (parsed by a ``template`` regex) and in the
database, so a button keeps working after a restart. ``CourseButton`` routes every failure in a button's
``handle`` to the shared error reporter, like slash commands.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.cogs._render import clip
from bot.cogs.errors import report

LABEL_MAX = 80


def label(text: str) -> str:
    """A button label within Discord's limit."""
    return clip(text, LABEL_MAX)


def view_of(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view for restart-proof buttons (no timeout: the buttons live as long as their message)."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


class CourseButton:
    """Mixin for ``DynamicItem[discord.ui.Button]`` subclasses: implement ``handle``; errors are reported."""

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.handle(interaction)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an ephemeral note (and a log line)
            await report(interaction, exc)

    async def handle(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError
