"""Lab assistants: a lesson-specific Claude that answers a learner's questions in a lab thread.

``LabAssistant.ask(thread, question, event_id=..., message=..., stop=...)`` streams one answer into a
``ProgressiveMessage`` and records the turn once per event id. The assistant is grounded in its lesson:
the system prompt is the lab's persona, then the lesson text, marked ``cache_control: ephemeral`` so the
long stable prefix is cached across the thread's turns. Earlier turns of the thread (those with answer text)
are sent as history, oldest dropped first to stay within ``COURSEBOT_HISTORY_CHARS``.

How an answer ends (``LabTurn.status``) and what the learner sees besides the text:

* complete: the footer ``TTFT 0.41 s · 312 tokens · 48 tok/s``.
* partial: the stream failed or ended early after text had arrived; the text stays, with the notice
  "⚠️ The answer was cut off (<reason>). What arrived is kept above; ask again to continue." Nothing is
  retried once text has started (the SDK retries only before the stream begins, and shows
  "Claude is busy, retrying…" meanwhile).
* stopped: the learner pressed Stop; the HTTP stream is closed and the text so far stays, with "⏹️ Stopped.".
* failed: no text arrived; a plain message instead (a rejected API key tells the learner only that the
  assistant is unavailable, and the operator gets an actionable log line).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from anthropic import AsyncAnthropic
from anthropic.types import MessageParam, TextBlockParam

from bot.config import Settings
from bot.core.claude import (
    Answer,
    AnswerRequest,
    ClaudeError,
    ErrorKind,
    classify,
    log_for_operator,
    make_client,
    stream_answer,
)
from bot.core.content.model import Lab, Lesson
from bot.core.course import CourseError, CourseService, LabProgress
from bot.core.store.base import LabThread, LabTurn, TurnStatus
from bot.core.streaming.engine import ProgressiveMessage

RETRY_STATUS = "Claude is busy, retrying…"
STOPPED_NOTICE = "⏹️ Stopped."
CUT_NOTICE = "⚠️ The answer was cut off ({reason}). What arrived is kept above; ask again to continue."
UNAVAILABLE_MESSAGE = "The lab assistant is not available right now; the course operator has been told."
TRY_AGAIN_MESSAGE = "⚠️ Claude could not answer ({reason}). Please ask again in a minute."
REJECTED_MESSAGE = "⚠️ Claude could not answer this question ({reason})."
NO_TEXT_MESSAGE = "⚠️ Claude returned no answer text. Please rephrase your question."
INTERRUPTED = "interrupted: coursebot was shutting down"
LENGTH_NOTICE = "✂️ The answer reached its length limit; ask a follow-up question for the rest."


class LabBusy(CourseError):
    """A second question arrived while the thread's previous one is still being answered."""


class InvalidQuestion(CourseError):
    """The question is empty or too long; nothing was sent."""


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    turn: LabTurn
    progress: LabProgress
    recorded: bool  # False when this event id had already recorded a turn


class LabAssistant:
    """Answers lab questions with Claude; one answer at a time per thread. Share one per process."""

    def __init__(self, client: AsyncAnthropic, settings: Settings, course: CourseService) -> None:
        self._client = client
        self._settings = settings
        self._course = course
        self._answering: set[int] = set()

    @classmethod
    def from_settings(cls, settings: Settings, course: CourseService) -> LabAssistant:
        return cls(make_client(settings), settings, course)

    async def close(self) -> None:
        await self._client.close()

    def busy(self, thread: LabThread) -> bool:
        """Whether an answer is streaming in this thread right now."""
        return thread.id in self._answering

    async def ask(
        self,
        thread: LabThread,
        question: str,
        *,
        event_id: str,
        message: ProgressiveMessage,
        stop: asyncio.Event | None = None,
    ) -> TurnOutcome:
        """Answer ``question`` into ``message``; raises ``InvalidQuestion``, ``LabBusy`` or ``UnknownLab``."""
        question = self.check_question(question)
        if self.busy(thread):
            raise LabBusy(
                "I'm still answering your previous question in this thread. "
                "Wait for it to finish (or stop it), then ask again."
            )
        self._answering.add(thread.id)
        try:
            return await self._answer(thread, question, event_id, message, stop)
        finally:
            self._answering.discard(thread.id)

    def check_question(self, question: str) -> str:
        """The question, stripped; raises ``InvalidQuestion`` when it is empty or too long."""
        question = question.strip()
        limit = self._settings.max_question_chars
        if not question:
            raise InvalidQuestion("Please type a question for the lab assistant.")
        if len(question) > limit:
            raise InvalidQuestion(
                f"That question is {len(question)} characters long; please keep it under {limit} characters."
            )
        return question

    async def _answer(
        self,
        thread: LabThread,
        question: str,
        event_id: str,
        message: ProgressiveMessage,
        stop: asyncio.Event | None,
    ) -> TurnOutcome:
        lab, lesson = self._lab(thread)
        store = self._course.store
        history = history_messages(await store.lab_turns(thread.id), self._settings.history_budget_chars)
        request = AnswerRequest(
            model=self._settings.model,
            max_tokens=self._settings.max_tokens,
            system=system_blocks(lab, lesson),
            messages=[*history, {"role": "user", "content": question}],
        )
        answer = Answer()
        error: ClaudeError | None = None
        try:
            await stream_answer(
                self._client,
                request,
                answer,
                on_text=message.update,
                on_retry=lambda: message.status(RETRY_STATUS),
                stop=stop,
            )
        except asyncio.CancelledError:  # coursebot is shutting down: keep what arrived, then stop
            status: TurnStatus = "partial" if answer.text else "failed"
            await store.record_lab_turn(thread.id, event_id, self._turn(question, answer, status, INTERRUPTED))
            raise
        except Exception as exc:  # every failure ends as a recorded turn and a visible message
            error = classify(exc, read_timeout=self._settings.read_timeout)
            log_for_operator(error, exc, self._settings)

        status, notice, error_text = _ending(answer, error)
        turn = self._turn(question, answer, status, error_text)
        recorded = await store.record_lab_turn(thread.id, event_id, turn)
        await message.finish(answer.text, notice=notice, footer=answer.footer())
        progress = await self._course.lab_progress(thread)
        return TurnOutcome(turn=turn, progress=progress, recorded=recorded)

    def _turn(self, question: str, answer: Answer, status: TurnStatus, error: str) -> LabTurn:
        return LabTurn(
            question=question,
            answer=answer.text,
            status=status,
            error=error,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cache_read_tokens=answer.cache_read_tokens,
            cache_write_tokens=answer.cache_write_tokens,
            ttft_ms=answer.ttft_ms,
            duration_ms=answer.duration_ms,
            stop_reason=answer.stop_reason,
            model=self._settings.model,
        )

    def _lab(self, thread: LabThread) -> tuple[Lab, Lesson]:
        lab = self._course.lab(thread.lab, thread.module)
        return lab, self._course.lesson(lab.lesson, thread.module)


def system_blocks(lab: Lab, lesson: Lesson) -> list[TextBlockParam]:
    """The lab's persona, then the lesson as grounding; the last block is cached across the thread's turns."""
    persona = (
        f"You are {lab.assistant_name}, the assistant of the lab \"{lab.title}\". {lab.specialty}\n\n"
        f"{lab.system_prompt.strip()}\n\n"
        "You are talking in a chat app (Discord, Slack or a terminal): answer in a few short paragraphs of plain "
        "Markdown. Use bullet lists and fenced code blocks with a language; no tables and no headings, which chat "
        "apps do not draw."
    )
    grounding = (
        f"The learner has just studied lesson {lesson.number}, reproduced below. Ground your answers in it "
        f"and say so when a question goes beyond it.\n\n<lesson>\n{lesson.text}\n</lesson>"
    )
    return [
        {"type": "text", "text": persona},
        {"type": "text", "text": grounding, "cache_control": {"type": "ephemeral"}},
    ]


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
    messages: list[MessageParam] = []
    for turn in reversed(kept):
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    return messages


def _ending(answer: Answer, error: ClaudeError | None) -> tuple[TurnStatus, str, str]:
    """The turn's status, the notice shown under the text, and the error recorded."""
    if answer.stopped:
        return "stopped", STOPPED_NOTICE, ""
    if error is not None:
        if answer.text:
            return "partial", CUT_NOTICE.format(reason=error.reason), error.detail
        if error.kind is ErrorKind.AUTH:
            return "failed", UNAVAILABLE_MESSAGE, error.detail
        template = TRY_AGAIN_MESSAGE if error.kind is ErrorKind.TRANSIENT else REJECTED_MESSAGE
        return "failed", template.format(reason=error.reason), error.detail
    if not answer.complete:
        early = "the stream ended before the answer was complete"
        if answer.text:
            return "partial", CUT_NOTICE.format(reason=early), "stream ended without message_stop"
        return "failed", TRY_AGAIN_MESSAGE.format(reason=early), "stream ended without message_stop"
    if not answer.text:
        return "failed", NO_TEXT_MESSAGE, f"no text in the answer (stop_reason {answer.stop_reason})"
    if answer.stop_reason == "max_tokens":
        return "complete", LENGTH_NOTICE, ""
    return "complete", "", ""
