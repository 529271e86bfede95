"""``/review``: the learner's due review questions, one at a time and privately; reminders by direct message.

``/review`` answers with an ephemeral message holding the most overdue question; each option press replaces it
(through the press's own ``response_url``) with the quiz's feedback and the next due question.
``/review remind on`` / ``off`` switches the daily reminder: :func:`send_reminders` (run by ``run_slack``
every ``bot.core.review.REMINDER_CHECK_SECONDS``) opens a DM with each learner due one
(``conversations.open``) and posts it there with a button that turns reminders off.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.core import review as reviews
from bot.core.review import Reminder, ReviewItem, ReviewOutcome, ReviewService, reminder_switch, when_text
from bot.slack import blocks, questions
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors
from bot.slack.quizzes import feedback

log = logging.getLogger(__name__)

ANSWER_ACTION = re.compile(r"^review:answer:\d+$")
REMINDERS_OFF_ACTION = "review:remind-off"
PLATFORM = "slack"


def item_blocks(item: ReviewItem, intro: list[Block] | None = None) -> list[Block]:
    """The question with one button per option (below ``intro``: the feedback on the previous one)."""
    card = item.card
    out = list(intro or [])
    out.append(blocks.header(f"Review · {item.source}"))
    out += questions.question_blocks(item.question, "", action_prefix="review:answer:",
                                     value_prefix=f"{card.id}:{card.reviews}:", block_id=f"review:{card.id}")
    out += blocks.context([f"{item.due_count} due now · only you see this review"])
    return out


def outcome_blocks(result: ReviewOutcome, now: datetime) -> list[Block]:
    """The quiz's feedback, when the question comes back, then the next due question (or the end)."""
    out = blocks.sections(feedback(result.outcome))
    out += blocks.context([f"🗓️ This question comes back {when_text(result.next_due, now)}."])
    if result.next is not None:
        return item_blocks(result.next, [*out, blocks.divider()])
    return out + blocks.sections("🎉 That was the last question due. `/review` shows when the next one is.")


def reminder_blocks(reminder: Reminder) -> list[Block]:
    count = reminder.due
    text = (f"🔁 {count} review question{'s' if count != 1 else ''} {'are' if count != 1 else 'is'} due. "
            "Type `/review` in the course channel to keep them fresh.")
    return [*blocks.sections(text),
            blocks.actions([blocks.button("🔕 Turn off reminders", REMINDERS_OFF_ACTION, "off")])]


async def send_reminders(ctx: SlackContext, service: ReviewService) -> None:
    """DM every learner due a reminder (each is marked as reminded before it is sent)."""
    for reminder in await service.due_reminders(PLATFORM):
        team, user = reminder.learner.workspace, reminder.learner.user_id
        try:
            await ctx.pacing.call("conversations.open", team)
            dm = (await ctx.client.conversations_open(users=user))["channel"]["id"]
            await ctx.post(dm, text=f"{reminder.due} review question(s) due", blocks=reminder_blocks(reminder))
        except SlackApiError as error:  # the user left, DMs are closed: tomorrow's round tries again
            log.warning("review reminder to %s not sent: %s", user, error.response.get("error"))


async def remind_forever(ctx: SlackContext) -> None:
    """Look for learners to remind every ``REMINDER_CHECK_SECONDS`` until cancelled."""
    service = ReviewService(ctx.course)
    while True:
        try:
            await send_reminders(ctx, service)
        except Exception:  # noqa: BLE001 - a failed round must not end the loop
            log.exception("review reminders: the round failed")
        await asyncio.sleep(reviews.REMINDER_CHECK_SECONDS)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    service = ReviewService(ctx.course)

    async def show(respond: Any, page: list[Block], *, replace: bool, text: str = "Review") -> None:
        await respond(text=text, blocks=page, response_type="ephemeral", replace_original=replace)

    @app.command("/review")
    @friendly_errors
    async def review_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        switch = reminder_switch(command.get("text", ""))
        learner = ctx.command_learner(context, command)
        if switch is not None:
            await service.set_reminders(learner, switch)
            text = ("🔔 Reminders on: I will send you a direct message when questions are due, at most once a day."
                    if switch else "🔕 Review reminders are off.")
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        item = await service.next_item(learner)
        if item is None:
            status = await service.status(learner)
            text = f"🔁 {reviews.status_text(status, service.now())}"
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        await show(respond, item_blocks(item), replace=False)

    @app.action(ANSWER_ACTION)
    @friendly_errors
    async def answer(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        learner = ctx.action_learner(context, body)
        result = await service.answer(learner, action["value"], f"{action['action_ts']}:{learner.user_id}")
        await show(respond, outcome_blocks(result, service.now()), replace=True)

    @app.action(REMINDERS_OFF_ACTION)
    @friendly_errors
    async def reminders_off(ack: Any, body: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await service.set_reminders(ctx.action_learner(context, body), False)
        await respond(text="🔕 Review reminders are off. `/review remind on` turns them back on.",
                      replace_original=True)
