"""Lab assistants: a lesson-specific Claude that answers a learner's questions in a lab thread.

A question goes through two calls, whatever the platform:

1. ``LabAssistant.admit(thread, question, event_id=...)`` decides, before anything is shown or sent to the
   API, whether it is answered: the question is valid (not empty, not too long, valid Unicode, no NUL), the
   bot is not shutting down, the assistant is not cut off by a configuration error (``ConfigBreaker``), the
   thread is not answering already, the learner is within the hourly question and daily token limits; then
   the event id is claimed in the store (``Store.claim_answer``). A refusal is a ``CourseError`` with a
   learner-facing message; ``None`` means the event was claimed before (a redelivery): do nothing.
2. ``LabAssistant.answer(ticket, message)`` waits for a fair slot (``AnswerSlots``: a few answers per learner,
   a cap in all, round-robin between learners), streams the answer into a ``ProgressiveMessage``, records the
   turn and closes the claim in one transaction, and shows the ending: notice, footer and the lab's progress.

While it streams, the claim's lease is renewed with a checkpoint of what the message shows, so that after a
crash any process can repair the message and record the turn (``bot.core.recovery``). The assistant keeps the
one registry of running answers: ``stop`` (the learner's Stop button) and ``drain`` (shutdown: stop admitting,
let answers finish for a grace period, end the rest as interrupted).

The assistant is grounded in its lesson: the system prompt is the lab's persona; the lesson goes first in the
conversation as a document with citations enabled, one block per paragraph (``bot.core.citations``), marked
``cache_control: ephemeral`` so the long stable prefix (persona and lesson) is cached across the thread's
turns. The sections an answer cites are recorded with its turn and listed under it (``Ticket.ending``). Earlier turns of
the thread (those with answer text) are sent as history, oldest dropped first to stay within the budget.

How an answer ends (``LabTurn.status``): complete (footer ``TTFT 0.41 s · 312 tokens · 48 tok/s``); partial
(the stream failed after text arrived: the text stays with a notice; nothing is retried once text started);
stopped (the learner pressed Stop); interrupted (the bot shut down or crashed mid-answer); failed (no text: a
plain message instead). Only complete answers count towards the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from anthropic import AsyncAnthropic
from anthropic.types import MessageParam, TextBlockParam

from bot.core import messages
from bot.core.breaker import ConfigBreaker
from bot.core.citations import cited_sources, lesson_document, sources_line, with_document
from bot.core.claude import Answer, AnswerRequest, ClaudeError, ErrorKind, classify, log_for_operator, stream_answer
from bot.core.content.model import Lab, Lesson
from bot.core.course import CourseError, CourseService, LabProgress
from bot.core.shared.slots import SharedSlots
from bot.core.shared.stop_bus import LocalStopBus, StopBus
from bot.core.slots import AnswerSlots
from bot.core.store.base import AnswerClaim, LabThread, LabTurn, LearnerRef, LessonSource, Store, TurnStatus
from bot.core.streaming.engine import ProgressiveMessage

log = logging.getLogger(__name__)

Slots = AnswerSlots | SharedSlots  # this process's answer slots, or those shared by every process of the bot
LEASE_SECONDS = 10.0  # a claim not renewed for this long belongs to a process that is gone
RENEW_SECONDS = 3.0  # how often a streaming answer renews its lease and checkpoints its message


class LabBusy(CourseError):
    """A second question arrived while the thread's previous one is still being answered."""


class InvalidQuestion(CourseError):
    """The question is empty, too long or not text; nothing was sent."""


class LimitReached(CourseError):
    """The learner used up a question or token allowance; the message says when it resets."""


class Unavailable(CourseError):
    """The assistant cannot answer now (shutting down, or cut off by a configuration error)."""


@dataclass(frozen=True, slots=True)
class LabConfig:
    """The plain values the lab assistants need (built by the runtime from the settings)."""

    model: str
    max_tokens: int = 1024
    read_timeout: float = 60.0
    history_budget_chars: int = 24000
    max_question_chars: int = 1500
    answers_per_learner: int = 2  # streaming at once; more wait in the learner's queue
    max_concurrent_answers: int = 100  # streaming at once (a class of 100 at once), shared fairly
    questions_per_hour: int = 30  # per learner, rolling hour
    output_tokens_per_day: int = 60000  # per learner, UTC day
    config_error_cooldown: float = 300.0  # seconds without API calls after a rejected key or unknown model


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    turn: LabTurn
    progress: LabProgress
    completed_now: bool  # this answer completed the lab


@dataclass(frozen=True, slots=True)
class Ending:
    """How an answer ended, set on its ticket just before the final text goes: what the final message's
    controls need (the sources to open, whether it can be rated)."""

    status: TurnStatus
    sources: tuple[LessonSource, ...] = ()
    rateable: bool = False  # an answer with text (complete, cut or stopped) gets 👍 / 👎


@dataclass(eq=False)
class Ticket:
    """An admitted question: its claim, and the running answer's stop switch."""

    claim: AnswerClaim
    thread: LabThread
    question: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: bool = False  # ended by shutdown rather than by the learner
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ending: Ending | None = None  # set by the assistant before the final text

    @property
    def id(self) -> int:
        """The answer's id (its claim's): what a Stop button carries."""
        return self.claim.id


class StopResult(enum.Enum):
    STOPPING = messages.STOPPING
    FINISHED = messages.NOTHING_TO_STOP
    NOT_YOURS = messages.NOT_YOUR_ANSWER


def process_owner() -> str:
    """This process's name on the claims it holds: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LabAssistant:
    """Admits and answers lab questions with Claude. Share one per process."""

    def __init__(
        self, client: AsyncAnthropic, config: LabConfig, course: CourseService, store: Store,
        *, owner: str | None = None, slots: Slots | None = None, stop_bus: StopBus | None = None,
    ) -> None:
        """``slots`` and ``stop_bus`` default to this process's own; several processes of one bot pass the
        shared ones (``bot.core.shared``: the per-learner limits and a Stop pressed anywhere hold across them)."""
        self._client = client
        self.config = config
        self._course = course
        self._store = store
        self.owner = owner or process_owner()
        self.breaker = ConfigBreaker(config.config_error_cooldown)
        self._slots = slots or AnswerSlots(per_learner=config.answers_per_learner, total=config.max_concurrent_answers)
        self._stop_bus = stop_bus or LocalStopBus()
        self._running: dict[int, Ticket] = {}  # answer id -> its ticket
        self._threads: dict[int, Ticket] = {}  # lab thread id -> the answer running there
        self._draining = False

    async def start(self) -> None:
        """Listen for Stops pressed on other processes."""
        await self._stop_bus.start(self._stop_here)

    async def close(self) -> None:
        await self._stop_bus.close()
        if isinstance(self._slots, SharedSlots):
            await self._slots.close()
        await self._client.close()

    # -- admission ------------------------------------------------------------------------------------------

    def check_question(self, question: str) -> str:
        """The question, stripped; ``InvalidQuestion`` when it is empty, too long or not valid text."""
        question = question.strip()
        limit = self.config.max_question_chars
        if not question:
            raise InvalidQuestion("Please type a question for the lab assistant.")
        if len(question) > limit:
            raise InvalidQuestion(
                f"That question is {len(question)} characters long; please keep it under {limit} characters."
            )
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidQuestion("Your question contains characters that are not valid text; please retype it.") \
                from None
        if "\x00" in question:
            raise InvalidQuestion("Your question contains a NUL character; please retype it.")
        return question

    def running(self, thread: LabThread) -> Ticket | None:
        """The answer streaming (or queued) in this thread, if any."""
        return self._threads.get(thread.id)

    def refuse_early(self, thread: LabThread, question: str) -> str:
        """The checks that need no database: the valid question, or the ``CourseError`` explaining why not.

        Adapters that echo a question before answering call this first, so a refusal shows nothing.
        """
        question = self.check_question(question)
        if self._draining:
            raise Unavailable(messages.RESTARTING)
        if not self.breaker.closed:
            raise Unavailable(messages.UNAVAILABLE)
        if thread.id in self._threads:
            raise LabBusy(messages.BUSY)
        return question

    async def admit(self, thread: LabThread, question: str, *, event_id: str) -> Ticket | None:
        """Admit a question for answering (see the module docstring); None for an event claimed before."""
        question = self.check_question(question)
        if await self._store.is_claimed(event_id):
            return None
        question = self.refuse_early(thread, question)
        await self._check_allowance(thread.learner_id)
        if thread.id in self._threads:  # another question of this thread was admitted meanwhile
            raise LabBusy(messages.BUSY)
        claim = await self._store.claim_answer(
            event_id, thread.id, thread.learner_id, question, owner=self.owner, lease=LEASE_SECONDS
        )
        if claim is None:
            return None
        if thread.id in self._threads:  # lost a race with a question admitted while we claimed
            await self._store.finish_claim(claim.id, LabTurn(question, "", "failed", error="thread busy"))
            raise LabBusy(messages.BUSY)
        ticket = Ticket(claim=claim, thread=thread, question=question)
        self._running[ticket.id] = ticket
        self._threads[thread.id] = ticket
        return ticket

    async def _check_allowance(self, learner_id: int) -> None:
        now = datetime.now(UTC)
        hour_ago = now - timedelta(hours=1)
        asked = await self._store.claims_since(learner_id, hour_ago)
        if len(asked) >= self.config.questions_per_hour:
            free_at = asked[len(asked) - self.config.questions_per_hour] + timedelta(hours=1)
            log.info("learner %s is at COURSEBOT_QUESTIONS_PER_HOUR (%d): question refused until %s UTC",
                     learner_id, self.config.questions_per_hour, f"{free_at:%H:%M}")
            raise LimitReached(
                f"You have asked {len(asked)} questions in the last hour, the most this course allows. "
                f"You can ask again in {_duration(free_at - now)} (at {free_at:%H:%M} UTC)."
            )
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        used = await self._store.output_tokens_since(learner_id, day_start)
        if used >= self.config.output_tokens_per_day:
            resets = day_start + timedelta(days=1)
            log.info("learner %s is at COURSEBOT_TOKENS_PER_DAY (%d): question refused until midnight UTC",
                     learner_id, self.config.output_tokens_per_day)
            raise LimitReached(
                f"You have used today's allowance of answer tokens ({self.config.output_tokens_per_day:,}). "
                f"It resets at midnight UTC, in {_duration(resets - now)}."
            )

    # -- answering --------------------------------------------------------------------------------------------

    async def ask(
        self, thread: LabThread, question: str, *, event_id: str, message: ProgressiveMessage,
        stop: asyncio.Event | None = None,
    ) -> TurnOutcome | None:
        """``admit`` then ``answer``: None when the event was answered before."""
        ticket = await self.admit(thread, question, event_id=event_id)
        if ticket is None:
            return None
        if stop is not None:
            ticket.stop = stop
        return await self.answer(ticket, message)

    async def answer(self, ticket: Ticket, message: ProgressiveMessage) -> TurnOutcome:
        """Answer an admitted question into ``message``; always ends with a recorded turn and a final message."""
        answer = Answer()
        error: ClaudeError | None = None
        learner = ticket.thread.learner_id
        checkpoint = asyncio.create_task(self._checkpoint(ticket, message, answer), name=f"lease:{ticket.id}")
        try:
            if await self._wait_for_slot(ticket, message):
                try:
                    error = await self._stream(ticket, message, answer)
                finally:
                    self._slots.release(learner)
            else:  # stopped (or shut down) while queued: no API call was made
                answer.stopped = True
        finally:
            checkpoint.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpoint
            try:
                outcome = await self._finish(ticket, message, answer, error)
            except BaseException:
                message.abandon()  # the lease's expiry repairs the message (``bot/core/recovery.py``)
                raise
            finally:
                self._forget(ticket)
        return outcome

    async def _wait_for_slot(self, ticket: Ticket, message: ProgressiveMessage) -> bool:
        """Take a slot, showing the queue notice while waiting; False when stopped before its turn came."""
        def queued(own: bool) -> None:
            message.status(messages.QUEUED_OWN if own else messages.QUEUED_CLASS)
            if not own:  # a learner's own queue is their business; the class-wide cap is the operator's
                log.info("lab answer %s waits for a slot: all %d are in use (COURSEBOT_MAX_CONCURRENT_ANSWERS)",
                         ticket.id, self.config.max_concurrent_answers)

        acquire = asyncio.create_task(self._slots.acquire(ticket.thread.learner_id, on_wait=queued))
        stopper = asyncio.create_task(ticket.stop.wait())
        try:
            await asyncio.wait({acquire, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not acquire.done():
                acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
        if acquire.cancelled():
            return False
        if ticket.stop.is_set():  # granted and stopped at once: give the slot back unused
            self._slots.release(ticket.thread.learner_id)
            return False
        return True

    async def _stream(self, ticket: Ticket, message: ProgressiveMessage, answer: Answer) -> ClaudeError | None:
        lab, lesson = self._lab(ticket.thread)
        history = history_messages(await self._course.lab_history(ticket.thread), self.config.history_budget_chars)
        request = AnswerRequest(
            model=self.config.model,
            max_tokens=self.config.max_tokens,
            system=system_blocks(lab, lesson),
            messages=with_document(lesson_document(lesson), [*history, {"role": "user", "content": ticket.question}]),
        )
        try:
            await stream_answer(
                self._client, request, answer,
                on_text=message.update, on_retry=lambda: message.status(messages.RETRYING), stop=ticket.stop,
            )
        except asyncio.CancelledError:  # our caller is going away: end as interrupted, keep what arrived
            ticket.interrupted = True
            raise
        except Exception as exc:  # every failure ends as a recorded turn and a visible message
            error = classify(exc, read_timeout=self.config.read_timeout)
            if not error.config or self.breaker.trip():  # a configuration error: one log line per cooldown
                log_for_operator(error, exc, model=self.config.model, cooldown=self.breaker.cooldown)
            return error
        return None

    async def _finish(
        self, ticket: Ticket, message: ProgressiveMessage, answer: Answer, error: ClaudeError | None,
    ) -> TurnOutcome:
        status, notice, error_text = _ending(answer, error, interrupted=ticket.interrupted)
        sources = cited_sources(self._lab(ticket.thread)[1], answer.citations) if answer.text else ()
        turn = LabTurn(
            question=ticket.question, answer=answer.text, status=status, error=error_text,
            input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
            cache_read_tokens=answer.cache_read_tokens, cache_write_tokens=answer.cache_write_tokens,
            ttft_ms=answer.ttft_ms, duration_ms=answer.duration_ms, stop_reason=answer.stop_reason,
            model=self.config.model, sources=sources,
        )
        await self._store.finish_claim(ticket.id, turn)
        progress = await self._course.lab_progress(ticket.thread)
        completed_now = status == "complete" and progress.answered == progress.lab.questions_to_complete
        note = messages.progress_note(progress, completed_now=completed_now) if status == "complete" else ""
        metrics = " · ".join(part for part in (answer.footer(), note) if part)
        footer = "\n".join(part for part in (sources_line(sources), metrics) if part)
        rateable = bool(answer.text) and status in ("complete", "partial", "stopped")
        ticket.ending = Ending(status, sources, rateable)
        await message.finish(answer.text, notice=notice, footer=footer)
        return TurnOutcome(turn=turn, progress=progress, completed_now=completed_now)

    async def _checkpoint(self, ticket: Ticket, message: ProgressiveMessage, answer: Answer) -> None:
        """Renew the claim's lease with what the message shows, until the answer ends."""
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self._store.renew_claim(
                    ticket.id, owner=self.owner, lease=LEASE_SECONDS,
                    message_ids=message.message_ids, shown=message.on_screen, answer=answer.text,
                )
            except Exception:
                log.warning("could not renew the lease of answer %s", ticket.id, exc_info=True)

    def _forget(self, ticket: Ticket) -> None:
        self._running.pop(ticket.id, None)
        if self._threads.get(ticket.thread.id) is ticket:
            del self._threads[ticket.thread.id]
        ticket.done.set()

    def _lab(self, thread: LabThread) -> tuple[Lab, Lesson]:
        lab = self._course.lab(thread.lab, thread.module)
        return lab, self._course.lesson(lab.lesson, thread.module)

    # -- the registry of running answers -------------------------------------------------------------------

    async def stop(self, answer_id: int, learner: LearnerRef) -> StopResult:
        """The learner's Stop button: stop the answer if it is still running and theirs, on whichever process
        streams it (the claim in the store says whether it runs and whose it is; the stop bus reaches it)."""
        ticket = self._running.get(answer_id)
        if ticket is not None:
            if ticket.stop.is_set():
                return StopResult.FINISHED
            thread = ticket.thread
        else:
            claim = await self._store.answer_claim(answer_id)
            found = None if claim is None or claim.status != "streaming" else \
                await self._store.lab_thread_by_id(claim.thread_id)
            if found is None:
                return StopResult.FINISHED
            thread = found
        if not await self._course.is_lab_learner(thread, learner):
            return StopResult.NOT_YOURS
        if ticket is not None:
            ticket.stop.set()
        else:
            await self._stop_bus.publish(answer_id)
        return StopResult.STOPPING

    def _stop_here(self, answer_id: int) -> None:
        """A Stop published by any process: stop the answer if this process streams it."""
        if (ticket := self._running.get(answer_id)) is not None:
            ticket.stop.set()

    async def drain(self, grace: float) -> None:
        """Shutdown: refuse new questions, let running answers finish for ``grace`` seconds, end the rest."""
        self._draining = True
        waiting = [ticket.done.wait() for ticket in self._running.values()]
        if not waiting:
            return
        log.info("shutting down: waiting up to %g s for %d lab answer(s)", grace, len(waiting))
        _, pending = await asyncio.wait([asyncio.ensure_future(w) for w in waiting], timeout=grace)
        left = list(self._running.values())
        for ticket in left:
            ticket.interrupted = True
            ticket.stop.set()
        if left:
            log.warning("shutting down: %d lab answer(s) interrupted after the %g s grace", len(left), grace)
            await asyncio.wait([asyncio.ensure_future(t.done.wait()) for t in left], timeout=5.0)
        for future in pending:
            future.cancel()

    # -- start-up ----------------------------------------------------------------------------------------

    async def check_configuration(self) -> bool:
        """A call that generates nothing (the model's metadata) checks the key and the model at start-up."""
        try:
            await self._client.models.retrieve(self.config.model)
        except Exception as exc:
            error = classify(exc, read_timeout=self.config.read_timeout)
            if error.config:
                self.breaker.trip()
                log_for_operator(error, exc, model=self.config.model, cooldown=self.breaker.cooldown)
                return False
            log.warning("could not check the Claude configuration at start-up: %s (%s)", error.reason, error.detail)
        return True


def system_blocks(lab: Lab, lesson: Lesson) -> list[TextBlockParam]:
    """The lab's persona and how to use the lesson, which comes as a document with citations enabled in the
    first user turn (``bot.core.citations``); its ``cache_control`` caches this system prompt with it."""
    persona = (
        f"You are {lab.assistant_name}, the assistant of the lab \"{lab.title}\". {lab.specialty}\n\n"
        f"{lab.system_prompt.strip()}\n\n"
        "You are talking in a chat app (Discord, Slack or a terminal): answer in a few short paragraphs of plain "
        "Markdown. Use bullet lists and fenced code blocks with a language; no tables and no headings, which chat "
        "apps do not draw."
    )
    grounding = (
        f"The learner has just studied lesson {lesson.number}, \"{lesson.title}\", given as the document at the "
        "start of the conversation. Ground your answers in it, cite the passages you rely on, and say so when a "
        "question goes beyond it."
    )
    return [{"type": "text", "text": persona}, {"type": "text", "text": grounding}]


def history_messages(turns: list[LabTurn], budget_chars: int) -> list[MessageParam]:
    """Earlier turns that have answer text, newest kept first, within ``budget_chars`` of question + answer."""
    kept: list[LabTurn] = []
    used = 0
    for turn in reversed(turns):
        if turn.status == "failed" or not turn.answer.strip():
            continue
        used += len(turn.question) + len(turn.answer)
        if used > budget_chars:
            break
        kept.append(turn)
    history: list[MessageParam] = []
    for turn in reversed(kept):
        history.append({"role": "user", "content": turn.question})
        history.append({"role": "assistant", "content": turn.answer})
    return history


def _ending(answer: Answer, error: ClaudeError | None, *, interrupted: bool) -> tuple[TurnStatus, str, str]:
    """The turn's status, the notice shown under the text, and the error recorded."""
    if interrupted:
        return "interrupted", messages.INTERRUPTED, "interrupted: coursebot was shutting down"
    if answer.stopped:
        return "stopped", messages.STOPPED, ""
    if error is not None:
        if answer.text:
            return "partial", messages.CUT.format(reason=error.reason), error.detail
        if error.config:
            return "failed", messages.UNAVAILABLE, error.detail
        template = messages.TRY_AGAIN if error.kind is ErrorKind.TRANSIENT else messages.REJECTED
        return "failed", template.format(reason=error.reason), error.detail
    if not answer.complete:
        early = "the stream ended before the answer was complete"
        if answer.text:
            return "partial", messages.CUT.format(reason=early), "stream ended without message_stop"
        return "failed", messages.TRY_AGAIN.format(reason=early), "stream ended without message_stop"
    if not answer.text:
        return "failed", messages.NO_TEXT, f"no text in the answer (stop_reason {answer.stop_reason})"
    if answer.stop_reason == "max_tokens":
        return "complete", messages.LENGTH, ""
    return "complete", "", ""


def _duration(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() + 59) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"

