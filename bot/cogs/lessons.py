"""``/lesson``: post a lesson in the channel, with buttons to take its quiz and open its lab."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._autocomplete import number_autocomplete
from bot.cogs._context import learner_of, runtime_of
from bot.cogs._render import lesson_embeds, pack
from bot.cogs._ui import view_of
from bot.core.content.model import Lesson, Module

if TYPE_CHECKING:
    from bot.cogs.labs import Labs
    from bot.cogs.quizzes import Quizzes
    from bot.discord_app import CourseBot


def lesson_buttons(bot: CourseBot, module: Module, lesson: Lesson) -> list[discord.ui.Item[Any]]:
    """"Take the quiz" when the lesson has one; "Open the lab" for each lab that practises it.

    The buttons come from their cogs (found by name): each extension is loaded as its own module, and
    the button classes must be the ones those cogs registered.
    """
    items: list[discord.ui.Item[Any]] = []
    quizzes = cast("Quizzes | None", bot.get_cog("Quizzes"))
    if quizzes is not None and lesson.number in module.quizzes:
        items.append(quizzes.start_button(module.number, lesson.number))
    labs_cog = cast("Labs | None", bot.get_cog("Labs"))
    labs = [lab for lab in module.labs.values() if lab.lesson == lesson.number]
    if labs_cog is not None:
        items += [labs_cog.start_button(module.number, lab.number, numbered=len(labs) > 1) for lab in labs]
    return items


class Lessons(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(name="lesson", description="Post a lesson of the course in this channel.")
    @app_commands.describe(number="The lesson number", module="The module (default: the current one)")
    @app_commands.autocomplete(
        number=number_autocomplete(lambda module: {n: l.title for n, l in module.lessons.items()})
    )
    @app_commands.guild_only()
    async def lesson(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, 999],
        module: app_commands.Range[int, 1, 999] | None = None,
    ) -> None:
        course = runtime_of(interaction).course
        found = course.module(module)
        lesson = await course.view_lesson(learner_of(interaction), number, found.number)
        messages = pack(lesson_embeds(found, lesson))
        items = lesson_buttons(self.bot, found, lesson)
        view = view_of(*items) if items else discord.utils.MISSING
        first, *rest = messages
        await interaction.response.send_message(embeds=first, view=view if not rest else discord.utils.MISSING)
        for index, embeds in enumerate(rest, start=1):
            last = index == len(rest)
            await interaction.followup.send(embeds=embeds, view=view if last else discord.utils.MISSING)



async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Lessons(bot))
