"""``/quiz``: a lesson's quiz in the channel, with option buttons any learner can press.

Each press is answered ephemerally (correct or not, with the option's feedback); the first answer counts
and a repeat press shows it again. The quiz message shows how many learners answered; that line is
updated at most once per ``CourseBot.count_edit_seconds`` per message, through the shared pacer. A quiz
of more than five questions takes several messages, each with that line. A lesson's "Take the quiz"
button posts the quiz once: while it is recent and still in the channel, later presses get a link to it.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._ack import in_time, reply
from bot.cogs._autocomplete import number_autocomplete
from bot.cogs._context import cog_of, learner_of, runtime_of
from bot.cogs._render import question_embed, quiz_feedback, respondents_line
from bot.cogs._ui import CourseButton, label, view_of
from bot.core.coalescer import Coalescer
from bot.core.content.model import Quiz
from bot.core.course import button_number
from bot.core.streaming.pacing import Priority

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)

ROWS_PER_MESSAGE = 5  # one action row of option buttons per question
RECENT_QUIZ_SECONDS = 1800.0  # "Take the quiz" points to the quiz posted in the channel this recently


def quiz_parts(quiz: Quiz) -> int:
    """How many messages the quiz takes (a message holds five questions: five rows of option buttons)."""
    return max(1, -(-len(quiz.questions) // ROWS_PER_MESSAGE))


def quiz_header(quiz: Quiz, respondents: int, part: int = 0) -> str:
    """The text of quiz message ``part`` (0-based): its title and how many learners answered."""
    parts = quiz_parts(quiz)
    where = f", part {part + 1} of {parts}" if parts > 1 else ""
    return f"📝 **Quiz: {quiz.title}** (lesson {quiz.lesson}{where})\n{respondents_line(respondents)}"


class QuizOptionButton(
    CourseButton,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:quiz:(?P<module>\d+):(?P<lesson>\d+):(?P<qid>[a-z0-9-]+):(?P<opt>\d)",
):
    def __init__(self, module: int, lesson: int, question_id: str, option: int, text: str = "") -> None:
        super().__init__(discord.ui.Button(
            label=label(text or "?"), style=discord.ButtonStyle.secondary,
            custom_id=f"cb:quiz:{module}:{lesson}:{question_id}:{option}",
        ))
        self.module, self.lesson, self.question_id, self.option = module, lesson, question_id, option

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> QuizOptionButton:
        module, lesson, option = (button_number(match[name]) for name in ("module", "lesson", "opt"))
        return cls(module, lesson, match["qid"], option, item.label or "")

    async def handle(self, interaction: discord.Interaction) -> None:
        course = runtime_of(interaction).course
        outcome = await in_time(interaction, course.answer_quiz(
            learner_of(interaction), self.lesson, self.question_id, self.option,
            event_id=str(interaction.id), module=self.module,
        ))
        index = course.quiz(self.lesson, self.module).questions.index(outcome.question)
        await reply(interaction, quiz_feedback(outcome, index + 1))
        if not outcome.already_answered and interaction.message is not None:
            message = interaction.message
            _quizzes_cog(interaction).refresh_count(
                message.channel.id, message.id, self.module, self.lesson, index // ROWS_PER_MESSAGE
            )


class QuizStartButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:quiz:start:(?P<module>\d+):(?P<lesson>\d+)"
):
    def __init__(self, module: int, lesson: int) -> None:
        super().__init__(discord.ui.Button(
            label="Take the quiz", emoji="📝", style=discord.ButtonStyle.primary,
            custom_id=f"cb:quiz:start:{module}:{lesson}",
        ))
        self.module, self.lesson = module, lesson

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> QuizStartButton:
        return cls(button_number(match["module"]), button_number(match["lesson"]))

    async def handle(self, interaction: discord.Interaction) -> None:
        """Post the quiz, or point to it when it is already in the channel (many learners press this)."""
        quizzes = _quizzes_cog(interaction)
        link = await quizzes.posted_recently(interaction, self.module, self.lesson)
        if link is None:
            await quizzes.post(interaction, self.lesson, self.module)
        else:
            await interaction.response.send_message(
                f"📝 The lesson {self.lesson} quiz is already in this channel: {link}", ephemeral=True
            )


def _quizzes_cog(interaction: discord.Interaction) -> Quizzes:
    return cast(Quizzes, cog_of(interaction, "Quizzes"))


def quiz_messages(module: int, quiz: Quiz) -> list[tuple[list[discord.Embed], discord.ui.View]]:
    """The quiz as messages of up to five questions, each question with a row of option buttons."""
    messages = []
    questions = list(quiz.questions)
    for start in range(0, len(questions), ROWS_PER_MESSAGE):
        embeds = []
        view = view_of()
        for row, question in enumerate(questions[start : start + ROWS_PER_MESSAGE]):
            number = start + row + 1
            embeds.append(question_embed(f"Question {number}", question))
            for option in question.options:
                text = f"{number} · {option.letter}"
                button = QuizOptionButton(module, quiz.lesson, question.id, option.index, text)
                button.item.row = row
                view.add_item(button)
        messages.append((embeds, view))
    return messages


class Quizzes(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.counts = Coalescer(bot.count_edit_seconds)
        self._posted: dict[tuple[int, int, int], tuple[int, float]] = {}  # (channel, module, lesson) -> (id, when)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(QuizOptionButton, QuizStartButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(QuizOptionButton, QuizStartButton)
        self.counts.close()

    @staticmethod
    def start_button(module: int, lesson: int) -> discord.ui.Item[discord.ui.View]:
        """The "Take the quiz" button other cogs put on their messages (lessons)."""
        return QuizStartButton(module, lesson)

    async def post(self, interaction: discord.Interaction, lesson: int, module: int | None) -> None:
        """Post the quiz; every message of it shows the respondent count (kept up to date on a click there)."""
        course = self.bot.runtime.course
        found = course.module(module)
        quiz = course.quiz(lesson, found.number)
        respondents = await course.quiz_respondents(lesson, found.number)
        for part, (embeds, view) in enumerate(quiz_messages(found.number, quiz)):
            header = quiz_header(quiz, respondents, part)
            if part > 0:
                await interaction.followup.send(header, embeds=embeds, view=view)
                continue
            response = await interaction.response.send_message(header, embeds=embeds, view=view)
            if response.message_id is not None and interaction.channel_id is not None:
                key = (interaction.channel_id, found.number, lesson)
                self._posted[key] = (response.message_id, time.monotonic())

    async def posted_recently(self, interaction: discord.Interaction, module: int, lesson: int) -> str | None:
        """A link to the quiz if it was posted in the interaction's channel lately and is still there."""
        if interaction.channel_id is None:
            return None
        key = (interaction.channel_id, module, lesson)
        posted = self._posted.get(key)
        if posted is None or time.monotonic() - posted[1] > RECENT_QUIZ_SECONDS:
            return None
        channel = self.bot.get_partial_messageable(interaction.channel_id, guild_id=interaction.guild_id)
        await self.bot.pacer.acquire_global(priority=Priority.FINAL)
        try:
            message = await channel.fetch_message(posted[0])
        except discord.NotFound:
            self._posted.pop(key, None)  # two presses may both find it gone
            return None
        return message.jump_url

    def refresh_count(self, channel_id: int, message_id: int, module: int, lesson: int, part: int) -> None:
        """Schedule the respondent line of quiz message ``part`` to be brought up to date (coalesced)."""
        async def update() -> None:
            course = self.bot.runtime.course
            quiz = course.quiz(lesson, module)
            header = quiz_header(quiz, await course.quiz_respondents(lesson, module), part)
            await self.bot.pacer.acquire(str(channel_id))
            await self.bot.get_partial_messageable(channel_id).get_partial_message(message_id).edit(content=header)

        self.counts.request(message_id, update)

    @app_commands.command(name="quiz", description="Post a lesson's quiz in this channel.")
    @app_commands.describe(number="The lesson number", module="The module (default: the current one)")
    @app_commands.autocomplete(
        number=number_autocomplete(lambda module: {n: q.title for n, q in module.quizzes.items()})
    )
    @app_commands.guild_only()
    async def quiz(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, 999],
        module: app_commands.Range[int, 1, 999] | None = None,
    ) -> None:
        await self.post(interaction, number, module)



async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Quizzes(bot))
