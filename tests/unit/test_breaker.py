"""The configuration-error circuit breaker: a rejected key or an unknown model costs one API call and one log line
per cooldown, however many questions follow; the start-up check finds both without generating anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import messages
from bot.core.breaker import ConfigBreaker
from bot.core.labs import Unavailable
from tests.emulators.anthropic import Failure, FakeAnthropic, Reply
from tests.unit.lab_rig import Classroom, classroom

COOLDOWN = 1.0  # the shortest COURSEBOT_CONFIG_ERROR_COOLDOWN allowed


@pytest.fixture
async def room(fake_anthropic: FakeAnthropic, tmp_path: Path) -> AsyncIterator[Classroom]:
    fake_anthropic.reply = Reply(text="An answer.")
    async with classroom(fake_anthropic, tmp_path, config_error_cooldown=COOLDOWN) as rig:
        yield rig


def operator_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.core.claude" and r.levelno >= logging.ERROR]


def test_the_breaker_opens_once_per_cooldown() -> None:
    breaker = ConfigBreaker(cooldown=60)
    assert breaker.closed
    assert breaker.trip() is True  # the caller logs
    assert not breaker.closed
    assert breaker.trip() is False  # already open: nothing more to log


@pytest.mark.parametrize(("failure", "logged"), [
    (Failure(401), "ANTHROPIC_API_KEY was rejected (401)"),
    (Failure(403), "ANTHROPIC_API_KEY is not allowed to use this API or model (403)"),
    (Failure(404), "was not found (404)"),
], ids=["401", "403", "404"])
async def test_a_configuration_error_then_five_questions_make_one_api_call(
    room: Classroom, caplog: pytest.LogCaptureFixture, failure: Failure, logged: str,
) -> None:
    room.fake.script(failure)
    threads = [await room.thread(who) for who in range(1, 7)]
    with caplog.at_level(logging.INFO):
        outcome, sink = await room.ask(threads[0], event_id="first")
        assert (outcome.turn.status, sink.final) == ("failed", messages.UNAVAILABLE)
        for n, thread in enumerate(threads[1:]):
            with pytest.raises(Unavailable) as refusal:
                await room.assistant.admit(thread, "Anyone?", event_id=f"then-{n}")
            assert str(refusal.value) == messages.UNAVAILABLE
            assert not await room.store.is_claimed(f"then-{n}")

    assert room.fake.request_count == 1
    [line] = operator_lines(caplog)
    assert logged in line and f"for {COOLDOWN:.0f} s" in line
    assert room.fake.api_key not in caplog.text


async def test_after_the_cooldown_the_api_is_tried_again_and_logged_again(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    room.fake.script(Failure(401), Failure(401))
    thread = await room.thread()
    with caplog.at_level(logging.ERROR):
        await room.ask(thread, event_id="first")
        with pytest.raises(Unavailable):
            await room.assistant.admit(thread, "Still broken?", event_id="refused")
        await asyncio.sleep(COOLDOWN + 0.1)  # the cooldown is the behaviour under test
        outcome, _ = await room.ask(thread, event_id="after-cooldown")
        assert outcome.turn.status == "failed"
        await asyncio.sleep(COOLDOWN + 0.1)
        outcome, _ = await room.ask(thread, event_id="fixed")  # the operator fixed the key meanwhile

    assert outcome.turn.status == "complete"
    assert room.fake.request_count == 3
    assert len(operator_lines(caplog)) == 2, "one line per cooldown"


async def test_a_transient_failure_does_not_open_the_breaker(room: Classroom) -> None:
    room.fake.script(Failure(529, retry_after=0.01), Failure(529, retry_after=0.01), Failure(529, retry_after=0.01))
    thread = await room.thread()
    outcome, _ = await room.ask(thread, event_id="overloaded")
    assert outcome.turn.status == "failed"
    assert room.assistant.breaker.closed
    outcome, _ = await room.ask(thread, event_id="next")
    assert outcome.turn.status == "complete"


async def test_the_start_up_check_passes_a_good_configuration_without_generating(room: Classroom) -> None:
    assert await room.assistant.check_configuration() is True
    assert room.fake.model_lookups == [room.settings.model]
    assert room.fake.request_count == 0, "no Messages API call: nothing is generated"
    assert room.assistant.breaker.closed


@pytest.mark.parametrize(("wrong", "logged"), [
    ("key", "ANTHROPIC_API_KEY was rejected (401)"),
    ("model", "COURSEBOT_MODEL=claude-haiku-5-5 was not found (404)"),
])
async def test_the_start_up_check_finds_a_wrong_key_or_model(
    room: Classroom, caplog: pytest.LogCaptureFixture, wrong: str, logged: str
) -> None:
    if wrong == "key":
        room.fake.api_key = "a-revoked-key"
    else:
        room.fake.models = {"claude-some-other-model"}
    with caplog.at_level(logging.ERROR):
        assert await room.assistant.check_configuration() is False
        with pytest.raises(Unavailable):  # and the questions that follow make no API call
            await room.assistant.admit(await room.thread(), "Hello?", event_id="e1")

    [line] = operator_lines(caplog)
    assert logged in line
    assert room.fake.request_count == 0
    assert "a-revoked-key" not in caplog.text and "test-key" not in caplog.text


async def test_an_unreachable_api_at_start_up_is_a_warning_and_leaves_the_breaker_closed(
    fake_anthropic: FakeAnthropic, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = fake_anthropic.url
    await fake_anthropic.close()
    async with classroom(fake_anthropic, tmp_path, anthropic_base_url=url, max_retries=0) as room:
        with caplog.at_level(logging.WARNING):
            assert await room.assistant.check_configuration() is True
        assert room.assistant.breaker.closed
    assert "could not check the Claude configuration at start-up: could not reach the API" in caplog.text
