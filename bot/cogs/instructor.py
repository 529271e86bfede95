"""``/course stats``: per-question results for instructors (Manage Server), with a CSV attachment."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._render import stats_messages
from bot.cogs._ui import runtime_of

if TYPE_CHECKING:
    from bot.discord_app import CourseBot


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class Instructor(commands.GroupCog, group_name="course", group_description="Instructor tools for the course."):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="stats", description="Per-question share of correct first answers, with a CSV.")
    @app_commands.describe(module="The module (default: the current one)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def stats(
        self, interaction: discord.Interaction, module: app_commands.Range[int, 1, 999] | None = None
    ) -> None:
        course = runtime_of(interaction).course
        found = course.module(module)
        stats = await course.stats(found.number)
        csv_bytes = io.BytesIO(course.stats_csv(stats).encode())
        csv_file = discord.File(csv_bytes, filename=f"module-{found.number}-stats.csv")
        first, *rest = stats_messages(stats, found)
        await interaction.response.send_message(embeds=first, file=csv_file, ephemeral=True)
        for embeds in rest:
            await interaction.followup.send(embeds=embeds, ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Instructor(bot))
