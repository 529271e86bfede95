"""``/progress``: the learner's own progress card, ephemerally; ``/progress export:True``: their data as a file.

The export (everything the course stores about the learner, ``bot.core.data_rights``) is an ephemeral reply
with the file attached: only the learner sees it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._context import learner_of, runtime_of
from bot.cogs._render import progress_embed
from bot.core.data_rights import DataRights
from bot.core.review import ReviewService, status_text
from bot.core.store.base import LearnerRef

if TYPE_CHECKING:
    from bot.discord_app import CourseBot


class Progress(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.review = ReviewService(bot.runtime.course)
        self.rights = DataRights(bot.runtime.course.store)

    @app_commands.command(name="progress", description="See your progress: lessons, quizzes, labs and the test.")
    @app_commands.describe(module="The module (default: the current one)",
                           export="Send me a file with everything the course stores about me")
    @app_commands.guild_only()
    async def progress(
        self, interaction: discord.Interaction, module: app_commands.Range[int, 1, 999] | None = None,
        export: bool = False,
    ) -> None:
        learner = learner_of(interaction)
        if export:
            await self._export(interaction, learner)
            return
        progress = await runtime_of(interaction).course.progress(learner, module)
        embed = progress_embed(progress, learner.display_name)
        status = await self.review.status(learner)
        embed.add_field(name="🔁 Review", value=f"{status_text(status, self.review.now())} `/review`", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def _export(self, interaction: discord.Interaction, learner: LearnerRef) -> None:
        data = await self.rights.export(learner)
        await interaction.response.send_message(
            f"📦 Everything the course stores about you ({data.rows} rows), as JSON. Only you can see this.",
            file=discord.File(io.BytesIO(data.content), filename=data.filename), ephemeral=True,
        )


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Progress(bot))
