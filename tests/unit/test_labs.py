"""LabAssistant against the fake Anthropic API: every way an answer can end, what is shown and recorded."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.citations import lesson_document
from bot.core.course import CourseService
from bot.core.labs import InvalidQuestion, LabAssistant, LabBusy, TurnOutcome
from bot.core.messages import CUT as CUT_NOTICE
from bot.core.messages import INTERRUPTED
from bot.core.messages import LENGTH as LENGTH_NOTICE
from bot.core.messages import NO_TEXT as NO_TEXT_MESSAGE
from bot.core.messages import RETRYING as RETRY_STATUS
from bot.core.messages import STOPPED as STOPPED_NOTICE
from bot.core.messages import UNAVAILABLE as UNAVAILABLE_MESSAGE
from bot.core.store.base import LabThread, LabTurn
from bot.core.store.sqlite import SQLiteStore
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.runtime import build_labs
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply
from tests.limit_sinks import DISCORD, EmulatedPlatform, rejoin
from tests.unit.course_factory import learner, make_course

FOOTER = re.compile(
    r"TTFT \d+\.\d\d s · (\d+ tokens · \d+ tok/s|≈\d+ tokens \(estimated\))( · Question \d of \d| · 🎉 Lab \d complete!.*)?"
)
ANSWER = "Streaming shows the first words at once — naïve waiting feels slower 🚀. Each delta adds text."
CHUNK = 6


class RecordingSink:
    """A MessageSink that keeps every message's latest text and every call made."""

    limit = 2000
    bucket = "lab-thread"

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.first_text = asyncio.Event()
        self._ids = itertools.count(1)

    async def post(self, text: str, *, final: bool = False) -> str:
        message_id = str(next(self._ids))
        self.texts[message_id] = text
        self.calls.append(("post", text))
        self.first_text.set()
        return message_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        self.texts[message_id] = text
        self.calls.append(("edit", text))

    @property
    def final(self) -> str:
        return "\n".join(self.texts.values())


@dataclass
class LabRig:
    """A lab thread wired to the fake API, a real store and course, and the real streaming engine."""

    fake: FakeAnthropic
    settings: Settings
    course: CourseService
    assistant: LabAssistant
    thread: LabThread

    def message(self) -> tuple[ProgressiveMessage, RecordingSink]:
        sink = RecordingSink()
        return ProgressiveMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None))), sink

    async def ask(self, question: str = "What is TTFT?", *, event_id: str = "evt-1") -> tuple[TurnOutcome, RecordingSink]:
        message, sink = self.message()
        outcome = await self.assistant.ask(self.thread, question, event_id=event_id, message=message)
        assert outcome is not None, "a new event id is answered"
        return outcome, sink

    async def turns(self) -> list[LabTurn]:
        return await self.course.store.lab_turns(self.thread.id)


def make_settings(fake: FakeAnthropic, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "anthropic_api_key": fake.api_key,
        "anthropic_base_url": fake.url,
        "read_timeout": 5.0,
        "max_retries": 2,
        "db": tmp_path / "course.db",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def lab(fake_anthropic: FakeAnthropic, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[LabRig]:
    overrides = getattr(request, "param", {})
    settings = make_settings(fake_anthropic, tmp_path, **overrides)
    store = SQLiteStore(settings.db)
    await store.open()
    course = CourseService(make_course(), store)
    assistant = build_labs(settings, course)
    thread = await course.open_lab(learner(), 1, "discord", "thread-1")
    fake_anthropic.reply = Reply(text=ANSWER, chunk_chars=CHUNK)
    try:
        yield LabRig(fake_anthropic, settings, course, assistant, thread)
    finally:
        await assistant.close()
        await store.close()


async def test_complete_answer_is_shown_with_footer_and_recorded(lab: LabRig) -> None:
    outcome, sink = await lab.ask()

    text, footer = sink.final.split("\n\n")
    assert text == ANSWER
    assert FOOTER.fullmatch(footer)
    assert lab.fake.request_count == 1
    turn = outcome.turn
    assert (turn.status, turn.answer, turn.stop_reason, turn.error) == ("complete", ANSWER, "end_turn", "")
    assert turn.output_tokens == -(-len(ANSWER) // CHUNK)  # the API's count: one per delta in the fake
    assert turn.input_tokens > 0 and turn.cache_write_tokens > 0 and turn.cache_read_tokens == 0
    assert turn.ttft_ms is not None and turn.duration_ms is not None and turn.duration_ms >= turn.ttft_ms
    assert turn.model == lab.settings.model
    assert outcome.progress.asked == 1 and not outcome.progress.complete
    assert footer.endswith(" · Question 1 of 3")
    assert await lab.turns() == [turn]
    assert [r.outcome for r in await lab.fake.settled()] == ["complete"]


async def test_second_turn_reads_the_cached_lesson_and_sends_history(lab: LabRig) -> None:
    await lab.ask("First question?", event_id="e1")
    outcome, _ = await lab.ask("Second question?", event_id="e2")

    assert outcome.turn.cache_read_tokens > 0 and outcome.turn.cache_write_tokens == 0
    messages = lab.fake.requests[-1].body["messages"]
    document = lesson_document(lab.course.lesson(lab.course.lab(1).lesson))
    assert messages == [
        {"role": "user", "content": [document, {"type": "text", "text": "First question?"}]},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "Second question?"},
    ]


async def test_system_prompt_is_persona_then_the_cached_lesson_document(lab: LabRig) -> None:
    await lab.ask()

    body = lab.fake.requests[0].body
    persona, grounding = body["system"]
    chosen_lab = lab.course.lab(1)
    assert chosen_lab.assistant_name in persona["text"] and chosen_lab.system_prompt in persona["text"]
    assert chosen_lab.specialty in persona["text"]
    assert "cache_control" not in persona and "cache_control" not in grounding
    document, question = body["messages"][0]["content"]
    assert document == lesson_document(lab.course.lesson(chosen_lab.lesson))
    assert document["cache_control"] == {"type": "ephemeral"} and document["citations"] == {"enabled": True}
    assert question == {"type": "text", "text": "What is TTFT?"}
    assert (body["model"], body["max_tokens"], body["stream"]) == (lab.settings.model, lab.settings.max_tokens, True)


async def test_thinking_and_tool_use_blocks_are_not_shown(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, chunk_chars=CHUNK, blocks=("thinking", "text", "tool_use", "text"))
    outcome, sink = await lab.ask()

    assert sink.final.split("\n\n")[0] == ANSWER
    assert outcome.turn.answer == ANSWER
    assert outcome.turn.stop_reason == "end_turn"
    assert not any("search_lesson" in text or "learner asks" in text for _, text in sink.calls)


@pytest.mark.parametrize("failures", [[429], [529, 429]])
async def test_retries_show_a_status_then_succeed(lab: LabRig, failures: list[int]) -> None:
    lab.fake.script(*(Failure(status, retry_after=0.01) for status in failures))
    outcome, sink = await lab.ask()

    assert sink.calls[0] == ("post", RETRY_STATUS)
    assert outcome.turn.status == "complete" and sink.final.startswith(ANSWER)
    assert lab.fake.request_count == len(failures) + 1
    assert len(await lab.turns()) == 1


async def test_retries_exhausted_fail_with_a_clear_message(lab: LabRig) -> None:
    lab.fake.script(*[Failure(529, retry_after=0.01)] * 3)
    outcome, sink = await lab.ask()

    assert lab.fake.request_count == 3  # the first try and max_retries=2
    assert outcome.turn.status == "failed" and outcome.turn.answer == ""
    assert "OverloadedError 529" in outcome.turn.error
    assert sink.final == "⚠️ Claude could not answer (Claude is overloaded). Please ask again in a minute."
    assert outcome.progress.asked == 0
    assert [turn.status for turn in await lab.turns()] == ["failed"]


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key_gives_plain_message_and_operator_log(
    lab: LabRig, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    lab.fake.script(Failure(status))
    with caplog.at_level(logging.ERROR, logger="bot.core.claude"):
        outcome, sink = await lab.ask()

    assert sink.final == UNAVAILABLE_MESSAGE
    assert lab.fake.request_count == 1
    assert outcome.turn.status == "failed"
    assert "ANTHROPIC_API_KEY" in caplog.text and f"({status})" in caplog.text
    assert lab.fake.api_key not in caplog.text


CUTS = {
    "error": "Claude is overloaded",
    "drop": "the connection dropped",
    "stall": "no reply for 0.3 s",
    "no_stop": "the stream ended before the answer was complete",
}


@pytest.mark.parametrize("lab", [{"read_timeout": 0.3}], indirect=True)
@pytest.mark.parametrize("kind", list(CUTS))
async def test_cut_stream_keeps_partial_text_with_notice(lab: LabRig, kind: str) -> None:
    lab.fake.reply = Reply(text=ANSWER, chunk_chars=CHUNK, cut=Cut(kind, after=3))  # type: ignore[arg-type]
    outcome, sink = await lab.ask()

    partial = ANSWER[: 3 * CHUNK]
    text, notice, footer = sink.final.split("\n\n")
    assert text == partial
    assert notice == CUT_NOTICE.format(reason=CUTS[kind])
    assert FOOTER.fullmatch(footer)
    assert lab.fake.request_count == 1  # nothing is retried once text has started
    turn = outcome.turn
    assert (turn.status, turn.answer) == ("partial", partial)
    assert turn.error and turn.stop_reason is None
    assert await lab.turns() == [turn]
    requests = await lab.fake.settled()
    assert requests[0].outcome == ("client_closed" if kind == "stall" else "cut")
    if kind == "drop":
        await wait_until(lambda: lab.fake.open_connections == 0)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_stop_closes_the_stream_and_keeps_the_text(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, chunk_chars=CHUNK, cut=Cut("stall", after=2))
    message, sink = lab.message()
    stop = asyncio.Event()
    task = asyncio.create_task(lab.assistant.ask(lab.thread, "Q?", event_id="e1", message=message, stop=stop))
    await asyncio.wait_for(sink.first_text.wait(), 5)
    stop.set()
    outcome = await asyncio.wait_for(task, 5)
    assert outcome is not None

    text, notice, footer = sink.final.split("\n\n")
    assert "(estimated)" in footer  # the stream was closed before the API counted its tokens
    assert text == ANSWER[: 2 * CHUNK] and notice == STOPPED_NOTICE
    assert (outcome.turn.status, outcome.turn.answer) == ("stopped", ANSWER[: 2 * CHUNK])
    assert [r.outcome for r in await lab.fake.settled()] == ["client_closed"]
    assert await lab.turns() == [outcome.turn]


async def test_second_question_while_answering_is_refused(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, chunk_chars=CHUNK, cut=Cut("stall", after=1))
    message, sink = lab.message()
    stop = asyncio.Event()
    first = asyncio.create_task(lab.assistant.ask(lab.thread, "Q1?", event_id="e1", message=message, stop=stop))
    await asyncio.wait_for(sink.first_text.wait(), 5)

    with pytest.raises(LabBusy):
        await lab.ask("Q2?", event_id="e2")
    stop.set()
    await asyncio.wait_for(first, 5)

    assert lab.fake.request_count == 1
    lab.fake.reply = Reply(text=ANSWER)
    outcome, _ = await lab.ask("Q2?", event_id="e2")  # free again once the first answer ended
    assert outcome.turn.status == "complete"


async def test_same_event_is_answered_once(lab: LabRig) -> None:
    await lab.ask(event_id="same")
    message, sink = lab.message()
    assert await lab.assistant.ask(lab.thread, "What is TTFT?", event_id="same", message=message) is None

    assert len(await lab.turns()) == 1 and lab.fake.request_count == 1 and sink.calls == []


@pytest.mark.parametrize("question", ["", "   ", "x" * 1501, "Why \ud800?", "nul\x00byte"])
async def test_invalid_question_sends_nothing(lab: LabRig, question: str) -> None:
    with pytest.raises(InvalidQuestion):
        await lab.ask(question)
    assert lab.fake.request_count == 0 and await lab.turns() == []


@pytest.mark.parametrize("lab", [{"history_budget_chars": 1000}], indirect=True)
async def test_history_keeps_newest_turns_within_budget(lab: LabRig) -> None:
    store = lab.course.store
    old = [LabTurn(question=f"q{n}", answer=f"{n}" * 300, status="complete") for n in range(1, 5)]
    for n, turn in enumerate(old):
        await store.record_lab_turn(lab.thread.id, f"old-{n}", turn)
    await store.record_lab_turn(lab.thread.id, "failed", LabTurn(question="qf", answer="", status="failed"))
    await store.record_lab_turn(lab.thread.id, "partial", LabTurn(question="qp", answer="4" * 300, status="partial"))

    await lab.ask("Now?", event_id="new")

    sent = lab.fake.requests[0].body["messages"]
    document, first = sent[0]["content"]  # the lesson goes before the oldest turn kept
    assert document["type"] == "document" and first == {"type": "text", "text": "q3"}
    assert [m["content"] for m in sent[1:]] == ["3" * 300, "q4", "4" * 300, "qp", "4" * 300, "Now?"]


async def test_error_event_before_any_text_fails_without_retry(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, cut=Cut("error", after=0))
    outcome, sink = await lab.ask()

    assert sink.final == "⚠️ Claude could not answer (Claude is overloaded). Please ask again in a minute."
    assert outcome.turn.status == "failed" and lab.fake.request_count == 1


async def test_length_limit_keeps_the_answer_with_a_notice(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, stop_reason="max_tokens")
    outcome, sink = await lab.ask()

    text, notice, footer = sink.final.split("\n\n")
    assert (text, notice) == (ANSWER, LENGTH_NOTICE) and FOOTER.fullmatch(footer)
    assert (outcome.turn.status, outcome.turn.stop_reason) == ("complete", "max_tokens")


async def test_answer_without_text_fails(lab: LabRig) -> None:
    lab.fake.reply = Reply(blocks=("thinking", "tool_use"))
    outcome, sink = await lab.ask()

    assert sink.final == NO_TEXT_MESSAGE
    assert (outcome.turn.status, outcome.turn.stop_reason) == ("failed", "tool_use")


async def test_rejected_request_is_not_retried_and_logged(lab: LabRig, caplog: pytest.LogCaptureFixture) -> None:
    lab.fake.script(Failure(400, message="prompt is too long"))
    with caplog.at_level(logging.ERROR, logger="bot.core.claude"):
        outcome, sink = await lab.ask()

    assert sink.final == "⚠️ Claude could not answer this question (the request was rejected)."
    assert lab.fake.request_count == 1 and outcome.turn.status == "failed"
    assert "prompt is too long" in caplog.text and "prompt is too long" in outcome.turn.error


async def test_long_answer_lands_byte_exact_across_discord_sized_messages(lab: LabRig) -> None:
    long = (
        "Streaming prints tokens as they arrive, so a reader starts at once. " * 25
        + "\n```python\n"
        + "".join(f"print('chunk {n}')  # naïve 🚀\n" for n in range(60))
        + "```\nThat is all."
    )
    lab.fake.reply = Reply(text=long, chunk_chars=40, blocks=("thinking", "text"))
    platform = EmulatedPlatform(DISCORD)
    sink = platform.sink("thread-1")
    pacer = Pacer(RateLimits(per_bucket=(5, 5.0), global_=(50, 1.0), per_kind={"post": (5, 5.0)}))
    outcome = await lab.assistant.ask(lab.thread, "Long?", event_id="long", message=ProgressiveMessage(sink, pacer))

    assert outcome is not None and outcome.turn.answer == long
    assert len(sink.texts()) >= 2
    body, footer = rejoin(sink.texts()).rsplit("\n\n", 1)
    assert body == long and FOOTER.fullmatch(footer)
    assert platform.violations == [] and platform.rejections == []


async def test_cancelled_answer_is_still_recorded(lab: LabRig) -> None:
    lab.fake.reply = Reply(text=ANSWER, chunk_chars=CHUNK, cut=Cut("stall", after=2))
    message, sink = lab.message()
    task = asyncio.create_task(lab.assistant.ask(lab.thread, "Q?", event_id="e1", message=message))
    await wait_until(lambda: ANSWER[: 2 * CHUNK] in sink.final)  # both deltas arrived
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [turn] = await lab.turns()
    assert (turn.status, turn.answer) == ("interrupted", ANSWER[: 2 * CHUNK])
    assert sink.final.split("\n\n")[1] == INTERRUPTED
    assert [r.outcome for r in await lab.fake.settled()] == ["client_closed"]
    assert lab.assistant.running(lab.thread) is None
