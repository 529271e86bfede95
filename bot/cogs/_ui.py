"""What every cog shares: who the learner is, the runtime, and restart-proof buttons.

Buttons are ``DynamicItem``s: their state lives in the custom_id (parsed by a ``template`` regex) and in the
database, so a button keeps working after a restart. ``CourseButton`` routes every failure in a button's
``handle`` to the shared error reporter, like slash commands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.cogs._render import clip
from bot.cogs.errors import report
from bot.core.content.model import Module
from bot.core.course import CourseError
from bot.core.store.base import LearnerRef

if TYPE_CHECKING:
    from bot.discord_app import CourseBot
    from bot.runtime import Runtime

PLATFORM = "discord"
LABEL_MAX = 80


def bot_of(interaction: discord.Interaction) -> CourseBot:
    return interaction.client  # type: ignore[return-value]


def cog_of(interaction: discord.Interaction, name: str) -> Any:
    """The loaded cog ``name``; a friendly error when it is not loaded.

    Looked up by name, not by class: discord.py loads each extension as a fresh module, so the class a
    caller imports is not the one the bot holds.
    """
    cog = bot_of(interaction).get_cog(name)
    if cog is None:
        raise CourseError(f"{name} are not available right now.")
    return cog


def runtime_of(interaction: discord.Interaction) -> Runtime:
    return bot_of(interaction).runtime


def learner_of(interaction: discord.Interaction) -> LearnerRef:
    """The learner behind an interaction; the course lives in servers only."""
    if interaction.guild_id is None:
        raise CourseError("The course runs in a server channel, not in direct messages.")
    return learner_for(interaction.guild_id, interaction.user)


def learner_for(guild_id: int, user: discord.abc.User) -> LearnerRef:
    return LearnerRef(PLATFORM, str(guild_id), str(user.id), user.display_name)


def label(text: str) -> str:
    """A button label within Discord's limit."""
    return clip(text, LABEL_MAX)


CHOICES_MAX = 25
CHOICE_NAME_MAX = 100


def module_for_choices(interaction: discord.Interaction) -> Module | None:
    """The module named in the command being typed (the default one when none is), or None if it is unknown."""
    try:
        return runtime_of(interaction).course.module(getattr(interaction.namespace, "module", None))
    except CourseError:
        return None


def numbered_choices(current: str, titles: Mapping[int, str]) -> list[app_commands.Choice[int]]:
    """Autocomplete choices ``"2 · Title"`` whose number or title matches what the user typed."""
    typed = current.strip().lower()
    return [
        app_commands.Choice(name=clip(f"{number} · {title}", CHOICE_NAME_MAX), value=number)
        for number, title in sorted(titles.items())
        if not typed or typed in str(number) or typed in title.lower()
    ][:CHOICES_MAX]


Autocomplete = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[int]]]]


def number_autocomplete(titles: Callable[[Module], Mapping[int, str]]) -> Autocomplete:
    """An autocomplete callback for a ``number`` option, offering ``titles(module)`` of the module being typed."""
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        module = module_for_choices(interaction)
        return numbered_choices(current, titles(module)) if module else []

    return complete


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
