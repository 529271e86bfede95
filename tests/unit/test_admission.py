"""LabAssistant.admit: what is refused before anything is shown or sent, and what a refusal leaves untouched.

Every refusal is a ``CourseError`` with the learner's message; a refused question leaves no claim and makes
no API call. Also: the lab's completion is decided here once (only complete answers count, never past the
target).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core import messages
from bot.core.labs import InvalidQuestion, LimitReached, Unavailable
from bot.core.store.base import LabThread, LabTurn
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply
from tests.unit.lab_rig import Classroom, classroom

ANSWER = "Streaming shows the first words at once."


@pytest.fixture
async def room(fake_anthropic: FakeAnthropic, tmp_path: Path, request: pytest.FixtureRequest
               ) -> AsyncIterator[Classroom]:
    fake_anthropic.reply = Reply(text=ANSWER)
    async with classroom(fake_anthropic, tmp_path, **getattr(request, "param", {})) as rig:
        yield rig


async def refused(room: Classroom, thread: LabThread, question: str, event_id: str) -> str:
    """Admit a question that must be refused: the learner's message. Checks that nothing changed."""
    requests = room.fake.request_count
    asked = await room.store.claims_since(thread.learner_id, datetime.now(UTC) - timedelta(days=1))
    with pytest.raises((InvalidQuestion, LimitReached, Unavailable)) as refusal:
        await room.assistant.admit(thread, question, event_id=event_id)
    assert not await room.store.is_claimed(event_id), "a refused question leaves no claim"
    assert await room.store.claims_since(thread.learner_id, datetime.now(UTC) - timedelta(days=1)) == asked
    assert room.fake.request_count == requests, "a refused question makes no API call"
    assert room.assistant.running(thread) is None
    return str(refusal.value)


@pytest.mark.parametrize("room", [{"questions_per_hour": 2}], indirect=True)
async def test_the_hourly_question_limit_says_when_the_learner_can_ask_again(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await room.thread(), await room.thread()  # the limit is the learner's, over all threads
    await room.ask(first, event_id="e1")
    await room.ask(second, event_id="e2")
    [oldest, _] = await room.store.claims_since(first.learner_id, datetime.now(UTC) - timedelta(hours=1))

    with caplog.at_level(logging.INFO, logger="bot.core.labs"):
        text = await refused(room, first, "A third question?", "e3")

    free_at = oldest + timedelta(hours=1)
    assert text.startswith("You have asked 2 questions in the last hour, the most this course allows.")
    assert f"(at {free_at:%H:%M} UTC)" in text
    assert re.search(r"You can ask again in (59 min|1 h 0 min) \(at", text), text
    assert f"learner {first.learner_id} is at COURSEBOT_QUESTIONS_PER_HOUR (2): question refused until " \
           f"{free_at:%H:%M} UTC" in caplog.text
    other = await room.thread(who=2)
    outcome, _ = await room.ask(other, event_id="e-other")  # another learner is not limited by it
    assert outcome.turn.status == "complete"


@pytest.mark.parametrize("room", [{"tokens_per_day": 100}], indirect=True)
async def test_the_daily_token_allowance_says_when_it_resets(room: Classroom, caplog: pytest.LogCaptureFixture) -> None:
    thread = await room.thread()
    spent = LabTurn(question="Earlier?", answer="A long answer.", status="complete", output_tokens=100)
    await room.store.record_lab_turn(thread.id, "earlier", spent)

    with caplog.at_level(logging.INFO, logger="bot.core.labs"):
        text = await refused(room, thread, "One more?", "e1")

    now = datetime.now(UTC)
    left = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)) - now
    assert text.startswith("You have used today's allowance of answer tokens (100). It resets at midnight UTC, in ")
    found = re.search(r"in (?:(\d+) h )?(\d+) min\.$", text)
    assert found is not None, text
    shown = timedelta(hours=int(found[1] or 0), minutes=int(found[2]))
    assert abs(shown - left) <= timedelta(minutes=2)
    assert f"learner {thread.learner_id} is at COURSEBOT_TOKENS_PER_DAY (100): question refused until midnight UTC" \
           in caplog.text


@pytest.mark.parametrize("room", [{"max_concurrent_answers": 1}], indirect=True)
async def test_at_the_class_cap_an_answer_waits_with_a_notice_that_turns_into_it(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    room.fake.script(Reply(text=ANSWER, chunk_chars=4, cut=Cut("stall", after=1)))
    (first, first_sink), (second, second_sink) = room.message(), room.message()
    halt = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="bot.core.labs"):
        streaming = asyncio.create_task(room.assistant.ask(await room.thread(who=1), "Slow?", event_id="e1",
                                                           message=first, stop=halt))
        await asyncio.wait_for(first_sink.first_text.wait(), 5)
        waiting = asyncio.create_task(room.assistant.ask(await room.thread(who=2), "Me?", event_id="e2",
                                                         message=second))
        await asyncio.wait_for(second_sink.first_text.wait(), 5)
        assert second_sink.calls == [("post", messages.QUEUED_CLASS)] and room.fake.request_count == 1
        halt.set()  # the first answer ends: its slot goes to the waiting one
        outcomes = await asyncio.wait_for(asyncio.gather(streaming, waiting), 10)

    assert [o.turn.status for o in outcomes if o is not None] == ["stopped", "complete"]
    assert list(second_sink.texts) == ["1"] and second_sink.final.startswith(ANSWER), "the notice became the answer"
    assert "waits for a slot: all 1 are in use (COURSEBOT_MAX_CONCURRENT_ANSWERS)" in caplog.text


@pytest.mark.parametrize(("question", "says"), [
    ("Why does \ud83d stream?", "Your question contains characters that are not valid text; please retype it."),
    ("Why\x00 stream?", "Your question contains a NUL character; please retype it."),
    ("   ", "Please type a question for the lab assistant."),
    ("why " * 400, "That question is 1599 characters long; please keep it under 1500 characters."),
], ids=["lone-surrogate", "nul", "empty", "too-long"])
async def test_text_that_is_not_a_question_is_refused_clearly(room: Classroom, question: str, says: str) -> None:
    assert await refused(room, await room.thread(), question, "e1") == says


async def test_while_draining_a_question_gets_the_restarting_message(room: Classroom) -> None:
    room.fake.reply = Reply(text=ANSWER * 20, chunk_chars=4, cut=Cut("stall", after=2))
    running = await room.thread()
    message, sink = room.message()
    answering = asyncio.create_task(room.assistant.ask(running, "Slow?", event_id="slow", message=message))
    await asyncio.wait_for(sink.first_text.wait(), 5)

    draining = asyncio.create_task(room.assistant.drain(0.3))
    await asyncio.sleep(0)
    assert await refused(room, await room.thread(who=2), "Anyone there?", "late") == messages.RESTARTING
    await asyncio.wait_for(draining, 10)

    outcome = await asyncio.wait_for(answering, 5)
    assert outcome is not None and outcome.turn.status == "interrupted"
    assert sink.final.split("\n\n")[:2] == [ANSWER[:8], messages.INTERRUPTED]
    assert [turn.status for turn in await room.store.lab_turns(running.id)] == ["interrupted"]


async def test_one_event_delivered_twice_at_once_is_answered_once(room: Classroom) -> None:
    thread = await room.thread()
    (first, first_sink), (second, second_sink) = room.message(), room.message()
    outcomes = await asyncio.gather(
        room.assistant.ask(thread, "Once?", event_id="same", message=first),
        room.assistant.ask(thread, "Once?", event_id="same", message=second),
    )
    assert sorted(outcome is None for outcome in outcomes) == [False, True]
    assert room.fake.request_count == 1
    assert [sink.calls == [] for sink in (first_sink, second_sink)].count(True) == 1
    assert len(await room.store.lab_turns(thread.id)) == 1


async def test_only_complete_answers_count_and_the_count_stops_at_the_target(room: Classroom) -> None:
    thread = await room.thread()
    notes = []

    async def ask(event_id: str, *scripted: Reply | Failure, stop: bool = False) -> str:
        room.fake.script(*scripted)
        message, sink = room.message()
        halt = asyncio.Event()
        task = asyncio.create_task(room.assistant.ask(thread, "Q?", event_id=event_id, message=message, stop=halt))
        if stop:
            await asyncio.wait_for(sink.first_text.wait(), 5)
            halt.set()
        outcome = await asyncio.wait_for(task, 10)
        assert outcome is not None
        notes.append(sink.final.rsplit(" · ", 1)[-1] if "TTFT" in sink.final else "")
        return outcome.turn.status

    statuses = [
        await ask("stopped", Reply(text=ANSWER, chunk_chars=4, cut=Cut("stall", after=1)), stop=True),
        await ask("failed", Failure(400)),
        await ask("partial", Reply(text=ANSWER, chunk_chars=4, cut=Cut("no_stop", after=2))),
        await ask("one", Reply(text=ANSWER)),
        await ask("two", Reply(text=ANSWER, stop_reason="max_tokens")),  # the length limit counts too
        await ask("three", Reply(text=ANSWER)),
        await ask("four", Reply(text=ANSWER)),
    ]
    assert statuses == ["stopped", "failed", "partial", "complete", "complete", "complete", "complete"]
    assert notes[3:5] == ["Question 1 of 3", "Question 2 of 3"]
    assert notes[5].startswith("🎉 Lab 1 complete!")
    assert "Question" not in notes[6] and "🎉" not in notes[6], "after completion no count is shown"
    progress = await room.course.lab_progress(thread)
    assert (progress.asked, progress.complete) == (3, True)
    fresh = await room.thread()  # completion is the learner's, over all their threads of the lab
    assert (await room.course.lab_progress(fresh)).asked == 3
