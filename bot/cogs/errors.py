"""The one place errors from slash commands and buttons end up.

Handling order:

1. ``CourseError`` (bad input that changed nothing): its learner-friendly message, ephemerally.
2. A failed permission check (``app_commands.MissingPermissions``) or another check: what is missing.
3. A cooldown: how long to wait.
4. Anything else: an ephemeral apology, and the traceback in the log.

An interaction that was already acknowledged (a replayed one) or has expired cannot be answered: that is
routine, a debug line (:func:`is_replayed`), never an unhandled error.

Slash commands reach it through the command tree's ``on_error``; buttons (``CourseButton``) call
:func:`report` from their callback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._ack import reply
from bot.core.course import CourseError

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. The error has been logged; please try again in a moment."
# Discord's "Unknown interaction" (expired or never ours) and "Interaction has already been acknowledged".
REPLAYED_CODES = frozenset({10062, 40060})


def is_replayed(error: BaseException) -> bool:
    """True when ``error`` means the interaction was already answered or has expired (a redelivery, a replay)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, discord.InteractionResponded):
        return True
    return isinstance(error, discord.HTTPException) and error.code in REPLAYED_CODES


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
    if is_replayed(error):
        log.debug("interaction %s was already acknowledged or has expired: %s", interaction.id, error)
        return
    text = _message_for(interaction, error)
    try:
        await reply(interaction, text)
    except (discord.HTTPException, discord.InteractionResponded) as exc:
        if is_replayed(exc):
            log.debug("could not tell interaction %s about its error: %s", interaction.id, exc)
        else:
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
