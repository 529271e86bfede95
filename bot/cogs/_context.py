"""Who and what an interaction is about: the learner, the bot, its runtime and cogs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.core.course import CourseError
from bot.core.store.base import LearnerRef

if TYPE_CHECKING:
    from bot.discord_app import CourseBot
    from bot.runtime import Runtime

PLATFORM = "discord"


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
