"""``/lab N [module]``: a lab thread where a lesson-specific Claude answers the learner's questions.

``/lab`` posts the lab's parent message (greeting, suggested questions as buttons); the thread under it is
the lab. Only the learner who opened it gets answers there (others are told privately to open their own);
the bot's own messages and edits (``message_changed``, ``bot_message``, any subtype) are ignored.

Each question is admitted by ``LabAssistant.admit`` first (a refusal is shown privately, a redelivered event
is ignored: the claim in the database is the dedupe, also across restarts); then a "thinking" status
(``assistant.threads.setStatus``, skipped where Slack refuses it), a private Stop button for the learner, and
the answer streamed into ONE reply through the shared pacer: natively (``chat.startStream``) when
``SLACK_NATIVE_STREAMING`` is on, else ``chat.update``; its footer carries the lab's progress. The slow part
runs after the ack. After a crash, ``repair`` puts the cut answer's reply right (``bot.core.recovery``).

The request that ends the answer also puts its controls under it (``ending_blocks``, attached by the sink):
a 📖 button per source that shows that lesson section privately to whoever presses it, and Slack's native
👍 / 👎 (``feedback_buttons``); only the asker may rate, a second press changes the vote, and 👎 opens a modal
(``views.open``) for an optional reason. Buttons carry the answer's id; what they show is read from the store.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.core import messages
from bot.core.citations import SOURCE_MARK, SectionText, source_label
from bot.core.content.model import Lab
from bot.core.course import CourseError, button_number
from bot.core.feedback import REASON_MAX, AnswerFeedbackService, thanks
from bot.core.labs import Ending, StopResult, Ticket
from bot.core.store.base import LabThread, LearnerRef
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Priority
from bot.core.streaming.sink import DeliveryError
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors, number_and_module
from bot.slack.mrkdwn import escape, inline, plain, to_mrkdwn
from bot.slack.stream_sink import AnswerSink

log = logging.getLogger(__name__)

USAGE = "`/lab <number> [module]`, e.g. `/lab 1`"
SUGGEST_ACTION = re.compile(r"^lab:suggest:\d+$")
STOP_ACTION = "lab:stop"
FRESH_ACTION = "lab:fresh"
SOURCE_ACTION = re.compile(r"^lab:source:\d$")
FEEDBACK_ACTION = "lab:feedback"
REASON_VIEW = "lab:why"
REASON_BLOCK = "reason"
SOURCES_SHOWN = 5  # source buttons under an answer, as on Discord
THINKING = "is thinking…"
RECORDING_GRACE = 5.0  # seconds after a parent message during which its lab may still be being recorded
RECORDING_POLL = 0.25
UNDELIVERED = "Slack did not accept the rest of the answer. It is saved; ask again to see it in full."


def _seconds(ts: str) -> float:
    """A Slack message ts ("1733570000.000100") as epoch seconds (0 when it is not one)."""
    try:
        return float(ts)
    except ValueError:
        return 0.0


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


def stop_blocks(ticket: Ticket) -> list[Block]:
    return [
        *blocks.sections("✍️ Answering your question…"),
        blocks.actions([blocks.button("Stop", STOP_ACTION, str(ticket.id), style="danger")]),
    ]


def ending_blocks(answer_id: int, ending: Ending | None) -> list[Block]:
    """The finished answer's controls: a 📖 button per source, then 👍 / 👎; none when it has neither."""
    if ending is None:
        return []
    out = []
    if ending.sources:
        out.append(blocks.actions([
            blocks.button(f"{SOURCE_MARK} {source_label(source)}", f"lab:source:{index}", f"{answer_id}:{index}")
            for index, source in enumerate(ending.sources[:SOURCES_SHOWN])
        ], block_id=f"lab:sources:{answer_id}"))
    if ending.rateable:
        out.append(blocks.feedback_buttons(FEEDBACK_ACTION, f"up:{answer_id}", f"down:{answer_id}"))
    return out


def source_blocks(section: SectionText) -> list[Block]:
    """A lesson section opened from an answer's sources, as the lesson shows it."""
    return [blocks.header(section.title), *blocks.sections(to_mrkdwn(section.markdown))]


def reason_view(answer_id: int, channel: str, thread_ts: str | None) -> dict[str, Any]:
    """The modal a 👎 opens: one optional line on what was wrong (the 👎 itself is stored already)."""
    return {
        "type": "modal", "callback_id": REASON_VIEW,
        "private_metadata": json.dumps({"answer": answer_id, "channel": channel, "thread": thread_ts}),
        "title": {"type": "plain_text", "text": "What went wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [{
            "type": "input", "block_id": REASON_BLOCK, "optional": True,
            "label": {"type": "plain_text", "text": "Reason (optional)"},
            "element": {"type": "plain_text_input", "action_id": REASON_BLOCK, "multiline": True,
                        "max_length": REASON_MAX, "placeholder": {
                            "type": "plain_text",
                            "text": "e.g. it did not answer my question, or it contradicts the lesson"}},
        }],
    }


def thread_link(thread: LabThread) -> str:
    channel, _, ts = thread.thread_key.partition(":")
    return f"<https://slack.com/archives/{channel}/p{ts.replace('.', '')}|your lab {thread.lab} thread>"


async def start_lab(ctx: SlackContext, learner: LearnerRef, channel: str, number: int, module: int | None,
                    respond: Any, *, fresh: bool = False) -> None:
    """Post the lab's parent message in ``channel`` and record its thread as ``learner``'s lab; a learner who
    has a thread for it already is pointed back there (with a button for a fresh one)."""
    found = ctx.course.module(module)
    lab = ctx.course.lab(number, found.number)
    if ctx.runtime.labs is None:
        await respond(text=messages.NO_CLAUDE, response_type="ephemeral", replace_original=False)
        return
    existing = None if fresh else await ctx.course.existing_lab_thread(learner, lab.number, "slack", found.number)
    if existing is not None:
        text = (f"You already have {thread_link(existing)}. Carry on there, or start a fresh thread "
                "(your earlier questions still count).")
        await respond(text=text, response_type="ephemeral", replace_original=False, blocks=[
            *blocks.sections(text),
            blocks.actions([blocks.button("Start a fresh thread", FRESH_ACTION, f"{found.number}:{lab.number}")]),
        ])
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

    async def owned_thread(self, team_id: str, user: str, channel: str, thread_ts: str) -> LabThread | None:
        """The lab thread if ``user`` owns it; None (after telling them why) for someone else's lab."""
        if openings := self.ctx.lab_openings.get(channel):  # a click can beat the database write
            await asyncio.gather(*(opening.wait() for opening in list(openings)))
        key = f"{channel}:{thread_ts}"
        thread = await self.ctx.course.lab_thread("slack", key)
        # With several processes the lab may be being recorded by another one: a thread this young is looked
        # up again for a moment before the message is taken for an ordinary thread reply.
        while thread is None and time.time() - _seconds(thread_ts) < RECORDING_GRACE:
            await asyncio.sleep(RECORDING_POLL)
            thread = await self.ctx.course.lab_thread("slack", key)
        if thread is None:
            return None
        if not await self.ctx.course.is_lab_learner(thread, self.ctx.learner(team_id, user)):
            await self.ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts,
                                     text=escape(messages.NOT_YOURS.format(number=thread.lab)))
            return None
        return thread

    async def ask(self, thread: LabThread, question: str, *, team_id: str, user: str, channel: str,
                  thread_ts: str, event_id: str, echo: str | None = None) -> None:
        """Admit the question, then (after ``echo``, if given) stream its answer into the thread."""
        ctx = self.ctx

        async def tell(text: str, blocks: list[Block] | None = None) -> None:
            await ctx.ephemeral(team_id, channel, user, thread_ts=thread_ts, text=text, blocks=blocks)

        labs = ctx.runtime.labs
        if labs is None:
            await tell(escape(messages.NO_CLAUDE))
            return
        try:
            ticket = await labs.admit(thread, question, event_id=event_id)
        except CourseError as exc:
            await tell(escape(str(exc)))
            return
        if ticket is None:  # Slack delivered this event again (a retry, maybe after a restart)
            return
        try:
            if echo is not None:
                await ctx.post(channel, thread_ts=thread_ts, text=echo)
            await self._thinking(team_id, channel, thread_ts)
            await tell("Answering… (Stop)", stop_blocks(ticket))
            sink = AnswerSink(ctx.client, channel=channel, thread_ts=thread_ts, team_id=team_id, user_id=user,
                              native=ctx.native_streaming, on_unavailable=self._native_unavailable,
                              final_blocks=lambda: ending_blocks(ticket.id, ticket.ending))
            await labs.answer(ticket, ProgressiveMessage(sink, ctx.pacing.stream))
        except DeliveryError:
            log.exception("lab answer in %s could not be delivered", thread.thread_key)
            await tell(UNDELIVERED)

    async def repair(self, thread: LabThread, message_ids: Sequence[str], text: str) -> None:
        """After a crash: the answer's last reply shows ``text`` (a reply of its own when none was posted)."""
        channel, _, thread_ts = thread.thread_key.partition(":")
        # The workspace is not recorded with the thread; a repair is rare, so it is paced under a key of its own.
        sink = AnswerSink(self.ctx.client, channel=channel, thread_ts=thread_ts, team_id=thread.thread_key,
                          user_id="", native=False)
        if message_ids:
            await self.ctx.pacing.stream.acquire(sink.bucket, priority=Priority.COMPLETE)
            await sink.edit(message_ids[-1], text, final=True)
        else:
            await self.ctx.pacing.post(channel)
            await sink.post_plain(text, final=True)

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
    feedback = AnswerFeedbackService(ctx.course)

    @app.command("/lab")
    @friendly_errors
    async def lab_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        number, module = number_and_module(command.get("text", ""), USAGE)
        await start_lab(ctx, ctx.command_learner(context, command), command["channel_id"], number, module, respond)

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        event_id = event.get("client_msg_id") or body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not is_learner_message(event):
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
        index = button_number(action["value"])
        if not 0 <= index < len(lab.suggested_questions):
            raise CourseError("That suggestion is no longer part of this lab.")
        question = lab.suggested_questions[index]
        ctx.background(
            conversations.ask(thread, question, team_id=context.team_id, user=user, channel=channel,
                              thread_ts=thread_ts, event_id=f"slack:suggest:{action['action_ts']}:{user}",
                              echo=f"❓ {escape(plain(question, 2900))}"),
            name=f"lab-answer:{channel}:{thread_ts}",
        )

    @app.action(FRESH_ACTION)
    @friendly_errors
    async def fresh(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        module_text, _, lab_text = action["value"].partition(":")
        await start_lab(ctx, ctx.action_learner(context, body), body["channel"]["id"], button_number(lab_text),
                        button_number(module_text), respond, fresh=True)

    @app.action(STOP_ACTION)
    @friendly_errors
    async def stop(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        labs = ctx.runtime.labs
        result = StopResult.FINISHED if labs is None else await labs.stop(
            button_number(action["value"]), ctx.action_learner(context, body)
        )
        await respond(text=result.value, response_type="ephemeral", replace_original=result is not StopResult.NOT_YOURS)

    @app.action(SOURCE_ACTION)
    @friendly_errors
    async def source(ack: Any, action: dict[str, Any], respond: Any) -> None:
        await ack()
        answer_text, _, index_text = action["value"].partition(":")
        section = await feedback.source(button_number(answer_text), button_number(index_text))
        for page in blocks.paginate(source_blocks(section))[:5]:  # a response_url takes five posts
            await respond(text=escape(section.title), blocks=page, response_type="ephemeral", replace_original=False)

    @app.action(FEEDBACK_ACTION)
    @friendly_errors
    async def rate(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        vote, _, answer_text = action["value"].partition(":")
        answer_id = button_number(answer_text)
        stored = await feedback.rate(answer_id, ctx.action_learner(context, body), helpful=vote == "up")
        if stored.helpful:
            await respond(text=escape(thanks(stored)), response_type="ephemeral", replace_original=False)
            return
        # Not paced: a trigger_id lasts three seconds, and one person's click opens one modal (Tier 4).
        await ctx.client.views_open(trigger_id=body["trigger_id"], view=reason_view(
            answer_id, body["channel"]["id"], (body.get("message") or {}).get("thread_ts")))

    @app.view(REASON_VIEW)
    async def reason(ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any) -> None:
        where = json.loads(view["private_metadata"])
        typed = view["state"]["values"][REASON_BLOCK][REASON_BLOCK].get("value") or ""
        learner = ctx.action_learner(context, body)
        try:
            stored = await feedback.rate(int(where["answer"]), learner, helpful=False, reason=typed)
        except CourseError as exc:
            await ack(response_action="errors", errors={REASON_BLOCK: str(exc)})
            return
        await ack()
        await ctx.ephemeral(context.team_id, where["channel"], learner.user_id, thread_ts=where["thread"],
                            text=escape(thanks(stored)))

    if ctx.runtime.recovery is not None:
        ctx.runtime.recovery.register("slack", conversations.repair)

