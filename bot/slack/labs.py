"""``/lab N [module]``: a lab thread where a lesson-specific Claude answers the learner's questions.

``/lab`` posts the lab's parent message (greeting, suggested questions as buttons); the thread under it is
the lab. Only the learner who opened it gets answers there (others are told privately to open their own);
the bot's own messages and edits (``message_changed``, ``bot_message``, any subtype) are ignored.

Each question: a "thinking" status (``assistant.threads.setStatus``, skipped where Slack refuses it), a
private Stop button for the learner, then the answer streamed into ONE reply through the shared pacer:
natively (``chat.startStream``) when ``SLACK_NATIVE_STREAMING`` is on, else ``chat.update``. Afterwards the
learner sees "Questions asked: 2/3", or the completion message. The slow part runs after the ack.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.core.content.model import Lab
from bot.core.course import CourseError, LabProgress
from bot.core.store.base import LabThread, LearnerRef
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.sink import DeliveryError
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import RunningAnswer, SlackContext, friendly_errors, number_and_module
from bot.slack.mrkdwn import escape, inline, plain
from bot.slack.stream_sink import NativeThreadSink, ThreadSink

log = logging.getLogger(__name__)

USAGE = "`/lab <number> [module]`, e.g. `/lab 1`"
SUGGEST_ACTION = re.compile(r"^lab:suggest:\d+$")
STOP_ACTION = "lab:stop"
THINKING = "is thinking…"
UNAVAILABLE = "The lab assistant is unavailable right now (Claude is not configured for this course bot)."
NOT_YOURS = "This lab thread belongs to another learner. Start your own with `/lab {number}`."
BUSY = "I'm still answering your previous question here. Wait for it to finish (or stop it), then ask again."
UNDELIVERED = "Slack did not accept the rest of the answer. It is saved; ask again to see it in full."
SEEN_EVENTS = 2048  # recent message ids remembered to drop Slack's redeliveries


def parent_blocks(lab: Lab, module: int, learner_name: str) -> list[Block]:
    """The lab's parent message: the assistant's greeting, what it knows, whose lab it is, suggestions."""
    owner = f"This is {escape(learner_name)}'s lab. " if learner_name else ""
    how = (f"{owner}Reply in this thread to ask a question; {lab.questions_to_complete} questions complete"
           f" the lab (Module {module})." + (" Or pick one:" if lab.suggested_questions else ""))
    out = [
        blocks.header(f"Lab {lab.number}: {lab.title}"),
        *blocks.sections(f"*{escape(lab.assistant_name)}*: {inline(lab.greeting)}"),
        *blocks.context([f"Topics: {escape(lab.specialty)}", how]),
    ]
    if lab.suggested_questions:
        out.append(blocks.actions(
            [blocks.button(q, f"lab:suggest:{i}", str(i)) for i, q in enumerate(lab.suggested_questions)][:25],
            block_id=f"lab:{module}:{lab.number}",
        ))
    return out


def stop_blocks(thread_key: str, answer: RunningAnswer) -> list[Block]:
    return [
        *blocks.sections("✍️ Answering your question…"),
        blocks.actions([blocks.button("Stop", STOP_ACTION, f"{thread_key}|{answer.token}", style="danger")]),
    ]


def progress_text(progress: LabProgress) -> str:
    needed = progress.lab.questions_to_complete
    if progress.complete and progress.asked == needed:
        return (f"🎉 Lab complete! You asked {progress.asked} questions in Lab {progress.lab.number}. "
                "Keep asking if you like; `/progress` shows the whole module.")
    if progress.complete:
        return f"Questions asked: {progress.asked} (lab complete)"
    return f"Questions asked: {progress.asked}/{needed}"


async def start_lab(ctx: SlackContext, learner: LearnerRef, channel: str, number: int, module: int | None,
                    respond: Any) -> None:
    """Post the lab's parent message in ``channel`` and record its thread as ``learner``'s lab."""
    found = ctx.course.module(module)
    lab = ctx.course.lab(number, found.number)
    if ctx.runtime.labs is None:
        await respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)
        return
    # Until the thread is recorded, events in it must wait (see LabConversations.owned_thread).
    opening = asyncio.Event()
    ctx.lab_openings.setdefault(channel, set()).add(opening)
    try:
        ts = await ctx.post(channel, text=escape(f"Lab {lab.number}: {lab.title}"),
                            blocks=parent_blocks(lab, found.number, learner.display_name))
        await ctx.course.open_lab(learner, lab.number, "slack", f"{channel}:{ts}", found.number)
    finally:
        opening.set()
        ctx.lab_openings[channel].discard(opening)
        if not ctx.lab_openings[channel]:
            del ctx.lab_openings[channel]


class LabConversations:
    """Routes questions in lab threads to the lab assistant and streams the answers back."""

    def __init__(self, ctx: SlackContext) -> None:
        self.ctx = ctx
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_delivery(self, event_id: str) -> bool:
        """False for an event already handled (Slack redelivers events it thinks were missed)."""
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        return True

    async def owned_thread(self, team_id: str, user: str, channel: str, thread_ts: str) -> LabThread | None:
        """The lab thread if ``user`` owns it; None (after telling them why) for someone else's lab."""
        if openings := self.ctx.lab_openings.get(channel):  # a click can beat the database write
            await asyncio.gather(*(opening.wait() for opening in list(openings)))
        thread = await self.ctx.course.lab_thread("slack", f"{channel}:{thread_ts}")
        if thread is None:
            return None
        if not await self.ctx.course.is_lab_learner(thread, self.ctx.learner(team_id, user)):
            await self.ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts,
                                     text=NOT_YOURS.format(number=thread.lab))
            return None
        return thread

    async def ask(self, thread: LabThread, question: str, *, team_id: str, user: str, channel: str,
                  thread_ts: str, event_id: str) -> None:
        ctx = self.ctx
        labs = ctx.runtime.labs
        thread_key = f"{channel}:{thread_ts}"
        limit = ctx.settings.max_question_chars
        if labs is None:
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=UNAVAILABLE)
            return
        if len(question) > limit:
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=(
                f"That question is {len(question)} characters long; please keep it under {limit} characters."
            ))
            return
        if thread_key in ctx.answers or labs.busy(thread):  # checked and claimed with no await in between
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=BUSY)
            return
        running = ctx.answers[thread_key] = RunningAnswer()
        try:
            await self._thinking(team_id, channel, thread_ts)
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text="Answering… (Stop)",
                                blocks=stop_blocks(thread_key, running))
            sink = (
                NativeThreadSink(ctx.client, channel=channel, thread_ts=thread_ts, team_id=team_id, user_id=user,
                                 on_unavailable=self._native_unavailable)
                if ctx.native_streaming
                else ThreadSink(ctx.client, channel=channel, thread_ts=thread_ts, team_id=team_id)
            )
            outcome = await labs.ask(thread, question, event_id=event_id,
                                     message=ProgressiveMessage(sink, ctx.pacing.stream), stop=running.stop)
        except CourseError as exc:
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=escape(str(exc)))
            return
        except DeliveryError:
            log.exception("lab answer in %s could not be delivered", thread_key)
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=UNDELIVERED)
            return
        finally:
            if ctx.answers.get(thread_key) is running:
                del ctx.answers[thread_key]
        if outcome.recorded:
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=progress_text(outcome.progress))

    def _native_unavailable(self) -> None:
        self.ctx.native_streaming = False

    async def _thinking(self, team_id: str, channel: str, thread_ts: str) -> None:
        """Show "is thinking…" under the thread; Slack refuses it outside assistant threads: that is fine."""
        await self.ctx.pacing.call("assistant.threads.setStatus", team_id)
        try:
            await self.ctx.client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=THINKING)
        except SlackApiError as exc:
            log.debug("assistant.threads.setStatus refused: %s", exc.response.get("error"))


def is_learner_message(event: dict[str, Any]) -> bool:
    """A person's new message in a thread (not an edit, not a bot, not the thread's parent)."""
    return (
        not event.get("subtype")
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("thread_ts"))
        and event.get("thread_ts") != event.get("ts")
    )


def register(app: AsyncApp, ctx: SlackContext) -> None:
    conversations = LabConversations(ctx)

    @app.command("/lab")
    @friendly_errors
    async def lab_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        number, module = number_and_module(command.get("text", ""), USAGE)
        await start_lab(ctx, ctx.command_learner(context, command), command["channel_id"], number, module, respond)

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        event_id = event.get("client_msg_id") or body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not is_learner_message(event) or not conversations.first_delivery(event_id):
            return
        channel, thread_ts, user = event["channel"], event["thread_ts"], event["user"]
        thread = await conversations.owned_thread(context.team_id, user, channel, thread_ts)
        if thread is None:
            return
        question = html.unescape(event.get("text", "")).strip()
        ctx.background(
            conversations.ask(thread, question, team_id=context.team_id, user=user, channel=channel,
                              thread_ts=thread_ts, event_id=f"slack:{event_id}"),
            name=f"lab-answer:{channel}:{thread_ts}",
        )

    @app.action(SUGGEST_ACTION)
    @friendly_errors
    async def suggested(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        channel, thread_ts, user = body["channel"]["id"], body["container"]["message_ts"], body["user"]["id"]
        thread = await conversations.owned_thread(context.team_id, user, channel, thread_ts)
        if thread is None:
            return
        lab = ctx.course.lab(thread.lab, thread.module)
        index = int(action["value"])
        if not 0 <= index < len(lab.suggested_questions):
            raise CourseError("That suggestion is no longer part of this lab.")
        question = lab.suggested_questions[index]
        await ctx.post(channel, thread_ts=thread_ts, text=f"❓ {escape(plain(question, 2900))}")
        ctx.background(
            conversations.ask(thread, question, team_id=context.team_id, user=user, channel=channel,
                              thread_ts=thread_ts, event_id=f"slack:suggest:{action['action_ts']}:{user}"),
            name=f"lab-answer:{channel}:{thread_ts}",
        )

    @app.action(STOP_ACTION)
    async def stop(ack: Any, action: dict[str, Any], respond: Any) -> None:
        await ack()
        thread_key, _, token = action["value"].rpartition("|")
        running = ctx.answers.get(thread_key)
        if running is not None and running.token == token:
            running.stop.set()
            text = "⏹️ Stopping the answer."
        else:
            text = "That answer has already finished."
        await respond(text=text, response_type="ephemeral", replace_original=True)

