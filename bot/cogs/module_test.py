"""``/test``: the module test, one question at a time in an ephemeral message.

State lives in the database and in the buttons' custom_ids (attempt, question, option), so ``/test``
resumes an unfinished attempt and old buttons keep working after a restart. At the end: the score, pass
or not, and a review of the missed questions; passing can grant a role (``DISCORD_PASS_ROLE_ID``).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._context import bot_of, learner_of, runtime_of
from bot.cogs._render import test_question_embed, test_result_embeds
from bot.cogs._ui import CourseButton, view_of
from bot.core.course import TestResult, TestState, button_number
from bot.core.streaming.pacing import Priority

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)


class TestOptionButton(
    CourseButton,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:test:(?P<attempt>\d+):(?P<qid>[a-z0-9-]+):(?P<opt>\d+)",
):
    def __init__(self, attempt: int, question_id: str, option: int, text: str) -> None:
        super().__init__(discord.ui.Button(
            label=text, style=discord.ButtonStyle.secondary, custom_id=f"cb:test:{attempt}:{question_id}:{option}",
        ))
        self.attempt, self.question_id, self.option = attempt, question_id, option

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> TestOptionButton:
        return cls(button_number(match["attempt"]), match["qid"], button_number(match["opt"]), item.label or "?")

    async def handle(self, interaction: discord.Interaction) -> None:
        course = runtime_of(interaction).course
        learner = learner_of(interaction)
        step = await course.answer_test(learner, self.attempt, self.question_id, self.option, str(interaction.id))
        if isinstance(step, TestState):
            await interaction.response.edit_message(embed=test_question_embed(step), view=question_view(step))
            return
        await interaction.response.edit_message(embeds=test_result_embeds(step), view=None)
        await grant_pass_role(interaction, step)


def question_view(state: TestState) -> discord.ui.View:
    question = state.next_question
    return view_of(*(TestOptionButton(state.attempt.id, question.id, option.index, option.letter)
                     for option in question.options))


async def grant_pass_role(interaction: discord.Interaction, result: TestResult) -> None:
    """Give the configured role to a learner who passed (idempotent; a failure is logged, not shown)."""
    role_id = runtime_of(interaction).settings.discord_pass_role_id
    member = interaction.user
    if not result.passed or role_id is None or not isinstance(member, discord.Member):
        return
    try:
        await bot_of(interaction).pacer.acquire_global(priority=Priority.FINAL)
        await member.add_roles(discord.Object(id=role_id), reason="Passed the module test")
    except discord.HTTPException:
        log.warning("could not grant role %s to %s (check the bot's Manage Roles permission and role order)",
                    role_id, member.id, exc_info=True)


class ModuleTest(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(TestOptionButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(TestOptionButton)

    @app_commands.command(name="test", description="Take (or resume) the module test; only you see it.")
    @app_commands.describe(module="The module (default: the current one)")
    @app_commands.guild_only()
    async def test(
        self, interaction: discord.Interaction, module: app_commands.Range[int, 1, 999] | None = None
    ) -> None:
        course = runtime_of(interaction).course
        learner = learner_of(interaction)
        step = await course.start_test(learner, module)
        if isinstance(step, TestResult):  # every question answered before a restart interrupted the grading
            await interaction.response.send_message(embeds=test_result_embeds(step), ephemeral=True)
            await grant_pass_role(interaction, step)
            return
        embed = test_question_embed(step, resumed=step.resumed)
        await interaction.response.send_message(embed=embed, view=question_view(step), ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(ModuleTest(bot))
