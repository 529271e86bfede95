"""The one place errors from slash commands and buttons end up.

Handling order:

1. ``CourseError`` (bad input that changed nothing): its learner-friendly message, ephemerally.
2. A failed permission check (``app_commands.MissingPermissions``) or another check: what is missing.
3. A cooldown: how long to wait.
4. Anything else: an ephemeral apology, and the traceback in the log.

Slash commands reach it through the command tree's ``on_error``; buttons (``CourseButton``) call
:func:`report` from their callback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.course import CourseError

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. The error has been logged; please try again in a moment."


def _message_for(interaction: discord.Interaction, error: BaseException) -> str:
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, CourseError):
        return str(error)
    if isinstance(error, app_commands.MissingPermissions):
        missing = ", ".join(p.replace("_", " ").replace("guild", "server").title() for p in error.missing_permissions)
        return f"This command is for instructors: it needs the {missing} permission."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server channel, not in direct messages."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    where = interaction.command.qualified_name if interaction.command else f"component {interaction.data!r}"
    log.error("unhandled error in %s (interaction %s)", where, interaction.id, exc_info=error)
    return APOLOGY


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user what went wrong, ephemerally, whether or not the interaction was answered yet."""
    text = _message_for(interaction, error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell interaction %s about its error", interaction.id, exc_info=True)


class ErrorHandler(commands.Cog):
    """Installs :func:`report` as the command tree's error handler."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self._previous = bot.tree.on_error

    async def cog_load(self) -> None:
        self.bot.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous  # type: ignore[method-assign]

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report(interaction, error)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(ErrorHandler(bot))
