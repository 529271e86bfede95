"""``/progress``: the learner's own progress card, ephemerally."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._render import progress_embed
from bot.cogs._ui import learner_of, runtime_of
from bot.core.review import ReviewService, status_text

if TYPE_CHECKING:
    from bot.discord_app import CourseBot


class Progress(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.review = ReviewService(bot.runtime.course)

    @app_commands.command(name="progress", description="See your progress: lessons, quizzes, labs and the test.")
    @app_commands.describe(module="The module (default: the current one)")
    @app_commands.guild_only()
    async def progress(
        self, interaction: discord.Interaction, module: app_commands.Range[int, 1, 999] | None = None
    ) -> None:
        learner = learner_of(interaction)
        progress = await runtime_of(interaction).course.progress(learner, module)
        embed = progress_embed(progress, learner.display_name)
        status = await self.review.status(learner)
        embed.add_field(name="🔁 Review", value=f"{status_text(status, self.review.now())} `/review`", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Progress(bot))
