"""``/course stats`` and ``/course forget``: instructor tools (Manage Server), always private.

``/course stats`` answers at once with the per-question results and their CSV, then follows up with the chart
(drawn off the event loop) and every learner's progress as CSV. ``/course forget learner:`` asks for a
confirmation first; its button deletes what the course stores about the learner, and only an instructor's
press counts.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._context import PLATFORM, cog_of, runtime_of
from bot.cogs._render import CONTENT_MAX, clip, stats_messages
from bot.cogs._ui import CourseButton, view_of
from bot.core.course import CourseError
from bot.core.data_rights import CONFIRM_FOR, ConfirmationExpired, DataRights
from bot.core.feedback import AnswerFeedbackService, unhelpful_text
from bot.core.instructor import InstructorView, chart_filename, progress_filename, stats_filename
from bot.core.store.base import LearnerRef

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

NO_MENTIONS = discord.AllowedMentions.none()
NOT_ALLOWED = "Only instructors (the Manage Server permission) can delete a learner's data. Nothing was deleted."


def _file(data: str | bytes, filename: str) -> discord.File:
    return discord.File(io.BytesIO(data.encode() if isinstance(data, str) else data), filename=filename)


def _instructor_cog(interaction: discord.Interaction) -> Instructor:
    return cast(Instructor, cog_of(interaction, "Instructor"))


def _guild_learner(interaction: discord.Interaction, user_id: str) -> LearnerRef:
    if interaction.guild_id is None:
        raise CourseError("This works in the course's server, not in direct messages.")
    return LearnerRef(PLATFORM, str(interaction.guild_id), user_id, "")


def _is_instructor(interaction: discord.Interaction) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_guild


class ForgetButton(CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:forget:(?P<value>\d+:\d+)"):
    """Confirms ``/course forget``: the learner's user id and the confirmation's expiry travel in the custom_id."""

    def __init__(self, value: str) -> None:
        super().__init__(discord.ui.Button(
            label="Delete their data", emoji="🗑️", style=discord.ButtonStyle.danger, custom_id=f"cb:forget:{value}",
        ))
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ForgetButton:
        return cls(match["value"])

    async def handle(self, interaction: discord.Interaction) -> None:
        if not _is_instructor(interaction):
            raise CourseError(NOT_ALLOWED)
        rights = _instructor_cog(interaction).rights
        try:
            user_id = rights.confirmed_user(self.value)
        except ConfirmationExpired as expired:
            await interaction.response.edit_message(content=f"⌛ {expired}", view=None, allowed_mentions=NO_MENTIONS)
            return
        deleted = await rights.forget(_guild_learner(interaction, user_id))
        text = (f"🗑️ Deleted everything the course stored about <@{user_id}> ({deleted} rows)." if deleted
                else f"The course stores nothing about <@{user_id}> any more; nothing to delete.")
        await interaction.response.edit_message(content=text, view=None, allowed_mentions=NO_MENTIONS)


class CancelForgetButton(CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:forget:cancel"):
    def __init__(self) -> None:
        super().__init__(discord.ui.Button(
            label="Cancel", style=discord.ButtonStyle.secondary, custom_id="cb:forget:cancel",
        ))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> CancelForgetButton:
        return cls()

    async def handle(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content="Cancelled: nothing was deleted.", view=None)


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class Instructor(commands.GroupCog, group_name="course", group_description="Instructor tools for the course."):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.view = InstructorView(bot.runtime.course)
        self.rights = DataRights(bot.runtime.course.store)
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ForgetButton, CancelForgetButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ForgetButton, CancelForgetButton)

    @app_commands.command(name="stats", description="Per-question results, a chart, and every learner's progress.")
    @app_commands.describe(module="The module (default: the current one)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def stats(
        self, interaction: discord.Interaction, module: app_commands.Range[int, 1, 999] | None = None
    ) -> None:
        course = runtime_of(interaction).course
        found = course.module(module)
        stats = await course.stats(found.number)
        csv_file = _file(course.stats_csv(stats), stats_filename(found.number))
        first, *rest = stats_messages(stats, found)
        await interaction.response.send_message(embeds=first, file=csv_file, ephemeral=True)
        for embeds in rest:
            await interaction.followup.send(embeds=embeds, ephemeral=True)
        chart = await self.view.chart(stats, found.number)
        progress = await self.view.progress_csv(PLATFORM, str(interaction.guild_id), found.number)
        unhelpful = unhelpful_text(await AnswerFeedbackService(runtime_of(interaction).course).unhelpful(
            PLATFORM, str(interaction.guild_id), found.number))
        await interaction.followup.send(
            clip("📊 The funnel per lesson and each question's share of correct first answers; every learner's"
                 " progress in this server is in the CSV." + (f"\n\n{unhelpful}" if unhelpful else ""), CONTENT_MAX),
            files=[_file(chart, chart_filename(found.number)), _file(progress, progress_filename(found.number))],
            ephemeral=True,
        )

    @app_commands.command(name="forget", description="Delete everything the course stores about a learner.")
    @app_commands.describe(learner="The learner whose data to delete (you confirm first)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forget(self, interaction: discord.Interaction, learner: discord.User) -> None:
        if not await self.rights.is_known(_guild_learner(interaction, str(learner.id))):
            await interaction.response.send_message(
                f"The course stores nothing about {learner.mention}: nothing to delete.", ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        minutes = int(CONFIRM_FOR.total_seconds() // 60)
        await interaction.response.send_message(
            f"Delete everything the course stores about {learner.mention} (lessons read, quiz and test answers,"
            f" lab questions and answers, review schedule)? This cannot be undone. The button works for"
            f" {minutes} minutes.",
            view=view_of(ForgetButton(self.rights.confirmation(str(learner.id))), CancelForgetButton()),
            ephemeral=True, allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Instructor(bot))
