"""Two processes of one bot, as the runtime wires them with COURSEBOT_REDIS_URL: one database, one real Redis.

Each "process" here is its own Runtime (its own Redis link, stop bus, answer slots and pacers) in one test, so
the test can watch both; the Redis server and the SQLite file are shared as they would be between processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.core.labs import StopResult
from bot.core.shared.budget import SharedBudget
from bot.core.shared.slots import SharedSlots
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.runtime import Runtime
from tests.emulators.anthropic import FakeAnthropic, Reply
from tests.unit.course_factory import learner
from tests.unit.test_labs import RecordingSink, make_settings

CONTENT = Path(__file__).resolve().parents[2] / "content"


@pytest.fixture
async def two_processes(
    fake_anthropic: FakeAnthropic, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    settings = make_settings(fake_anthropic, tmp_path, content=CONTENT, redis_url=redis_url)
    async with AsyncExitStack() as stack:
        runtimes = []
        for _ in range(2):
            runtime = await Runtime.start(settings)
            stack.push_async_callback(runtime.close)
            runtimes.append(runtime)
        yield runtimes[0], runtimes[1]


def _message() -> tuple[ProgressiveMessage, RecordingSink]:
    sink = RecordingSink()
    return ProgressiveMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None))), sink


async def test_the_runtime_wires_redis_into_budgets_slots_and_stop(two_processes: tuple[Runtime, Runtime]) -> None:
    first, _ = two_processes
    assert first.link is not None and first.link.up
    assert isinstance(first.budget("discord", "token"), SharedBudget)
    assert first.labs is not None and isinstance(first.labs._slots, SharedSlots)


async def test_a_stop_pressed_on_another_process_stops_the_answer_there(
    two_processes: tuple[Runtime, Runtime], fake_anthropic: FakeAnthropic
) -> None:
    streaming, pressed = two_processes
    assert streaming.labs is not None and pressed.labs is not None
    fake_anthropic.reply = Reply(text="slow words " * 400, tokens_per_second=40)
    thread = await streaming.course.open_lab(learner(1), 1, "slack", "C1:1.0")
    ticket = await streaming.labs.admit(thread, "Explain slowly", event_id="slack:ev-1")
    assert ticket is not None
    message, sink = _message()
    answering = asyncio.create_task(streaming.labs.answer(ticket, message))
    await asyncio.wait_for(sink.first_text.wait(), 10)

    assert await pressed.labs.stop(ticket.id, learner(2)) is StopResult.NOT_YOURS
    assert not ticket.stop.is_set()
    assert await pressed.labs.stop(ticket.id, learner(1)) is StopResult.STOPPING  # not streamed on this process
    outcome = await asyncio.wait_for(answering, 10)
    assert outcome.turn.status == "stopped"
    assert fake_anthropic.request_count == 1
    assert await pressed.labs.stop(ticket.id, learner(1)) is StopResult.FINISHED  # the claim is closed
