"""``/review``: the learner's due review questions, one at a time and privately; reminders by direct message.

The question is an ephemeral message with one button per option; a press replaces it with the feedback (as
for a quiz) and the next due question. ``/review remind:on`` opts in to a direct message when questions are
due, at most once a day (``bot.core.review``), with a button that turns reminders off. The reminder check runs
every ``bot.core.review.REMINDER_CHECK_SECONDS`` in this cog.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._context import PLATFORM, cog_of, learner_for, learner_of
from bot.cogs._render import CORRECT, WRONG, feedback_message, question_embed
from bot.cogs._ui import CourseButton, label, view_of
from bot.core import review as reviews
from bot.core.review import Reminder, ReviewItem, ReviewOutcome, ReviewService, button_value, when_text
from bot.core.streaming.pacing import Priority
from bot.core.tasks import spawn

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)

Page = tuple[str, list[discord.Embed], discord.ui.View | None]


def item_page(item: ReviewItem, intro: str = "") -> tuple[str, list[discord.Embed], discord.ui.View]:
    """The question with its option buttons (and ``intro`` above it: the feedback on the previous one)."""
    embed = question_embed(f"🔁 Review · {item.source}", item.question)
    embed.set_footer(text=f"{item.due_count} due now · only you see this review")
    view = view_of(*(ReviewOptionButton(button_value(item.card, option.index), option.letter)
                     for option in item.question.options))
    return intro, [embed], view


def feedback(result: ReviewOutcome, now: datetime) -> str:
    """The quiz's feedback (verdict, the chosen option's feedback, the explanation) and when it comes back."""
    outcome = result.outcome
    chosen = f"**{outcome.chosen.letter}. {outcome.chosen.label}**"
    if outcome.already_answered:
        head = f"You answered this already: {chosen} ({'✅ correct' if outcome.correct else '❌ not quite'})."
    elif outcome.correct:
        head = f"✅ Correct! {chosen}"
    else:
        head = f"❌ Not quite: you chose {chosen}. Answer: **{outcome.question.correct_option.letter}**."
    return feedback_message(head, outcome, f"🗓️ This question comes back {when_text(result.next_due, now)}.")


def outcome_page(result: ReviewOutcome, now: datetime) -> Page:
    text = feedback(result, now)
    if result.next is not None:
        return item_page(result.next, text)
    done = discord.Embed(description="🎉 That was the last question due. `/review` shows when the next one is.",
                         colour=CORRECT if result.outcome.correct else WRONG)
    return text, [done], None


def reminder_text(reminder: Reminder) -> str:
    count = reminder.due
    return (f"🔁 {count} review question{'s' if count != 1 else ''} {'are' if count != 1 else 'is'} due. "
            "Run `/review` in the course server to keep them fresh.")


class ReviewOptionButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:review:(?P<value>\d+:\d+:\d+)"
):
    def __init__(self, value: str, text: str = "") -> None:
        super().__init__(discord.ui.Button(
            label=label(text or "?"), style=discord.ButtonStyle.secondary, custom_id=f"cb:review:{value}",
        ))
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ReviewOptionButton:
        return cls(match["value"], item.label or "")

    async def handle(self, interaction: discord.Interaction) -> None:
        service = _review_cog(interaction).review
        result = await service.answer(learner_of(interaction), self.value, str(interaction.id))
        content, embeds, view = outcome_page(result, service.now())
        await interaction.response.edit_message(content=content, embeds=embeds, view=view)


class RemindersOffButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:review:remind-off:(?P<guild>\d+)"
):
    """On a reminder (a direct message, so the course's server travels in the custom_id)."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(discord.ui.Button(
            label="Turn off reminders", emoji="🔕", style=discord.ButtonStyle.secondary,
            custom_id=f"cb:review:remind-off:{guild_id}",
        ))
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> RemindersOffButton:
        return cls(int(match["guild"]))

    async def handle(self, interaction: discord.Interaction) -> None:
        await _review_cog(interaction).review.set_reminders(learner_for(self.guild_id, interaction.user), False)
        await interaction.response.edit_message(
            content="🔕 Review reminders are off. `/review remind:on` in the course server turns them back on.",
            view=None,
        )


def _review_cog(interaction: discord.Interaction) -> Review:
    return cast(Review, cog_of(interaction, "Review"))


class Review(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.review = ReviewService(bot.runtime.course)
        self._reminders: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ReviewOptionButton, RemindersOffButton)
        self._reminders = spawn(self._remind(), name="discord-review-reminders")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ReviewOptionButton, RemindersOffButton)
        if self._reminders is not None:
            self._reminders.cancel()

    @app_commands.command(name="review", description="Go over the questions you missed, when they are due.")
    @app_commands.describe(remind="Direct-message me when questions are due (at most once a day)")
    @app_commands.choices(remind=[app_commands.Choice(name="on", value="on"),
                                  app_commands.Choice(name="off", value="off")])
    @app_commands.guild_only()
    async def review_command(
        self, interaction: discord.Interaction, remind: app_commands.Choice[str] | None = None
    ) -> None:
        learner = learner_of(interaction)
        if remind is not None:
            on = remind.value == "on"
            await self.review.set_reminders(learner, on)
            text = ("🔔 Reminders on: I will send you a direct message when questions are due, at most once a day."
                    if on else "🔕 Review reminders are off.")
            await interaction.response.send_message(text, ephemeral=True)
            return
        item = await self.review.next_item(learner)
        if item is None:
            status = await self.review.status(learner)
            await interaction.response.send_message(
                f"🔁 {reviews.status_text(status, self.review.now())}", ephemeral=True
            )
            return
        content, embeds, view = item_page(item)
        await interaction.response.send_message(content, embeds=embeds, view=view, ephemeral=True)

    async def _remind(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                await self.send_reminders()
            except Exception:  # noqa: BLE001 - a failed round must not end the loop
                log.exception("review reminders: the round failed")
            await asyncio.sleep(reviews.REMINDER_CHECK_SECONDS)

    async def send_reminders(self) -> None:
        """Direct-message every learner due a reminder (each is marked as reminded before it is sent)."""
        for reminder in await self.review.due_reminders(PLATFORM):
            try:
                await self.bot.pacer.acquire_global(priority=Priority.FINAL)
                channel = await self.bot.create_dm(discord.Object(id=int(reminder.learner.user_id)))
                await self.bot.pacer.acquire_global(priority=Priority.FINAL)
                await channel.send(reminder_text(reminder),
                                   view=view_of(RemindersOffButton(int(reminder.learner.workspace))))
            except discord.HTTPException as error:  # DMs closed, the user left: tomorrow's round tries again
                log.warning("review reminder to user %s not sent: %s", reminder.learner.user_id, error)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Review(bot))
