"""The Claude client pieces, and the fake Anthropic API checked against real recorded streams.

Recordings are read from ANTHROPIC_SSE_RECORDINGS (default /work/shared/anthropic-sse) at test time and
never copied into the project; those tests are skipped where the recordings are not available.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest

from bot.config import Settings
from bot.core.claude import Answer, AnswerRequest, ErrorKind, classify, make_client, stream_answer, warm_up
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Replay, Reply, question_of, sse

RECORDINGS = Path(os.environ.get("ANTHROPIC_SSE_RECORDINGS", "/work/shared/anthropic-sse"))
FRAME = re.compile(r"event: (\w+)\ndata: (\{.*\})\s*\n\n")
REQUEST = AnswerRequest(
    model="claude-haiku-5-5",
    max_tokens=256,
    system=[{"type": "text", "text": "You teach streaming.", "cache_control": {"type": "ephemeral"}}],
    messages=[{"role": "user", "content": "What is TTFT?"}],
)


def recording(name: str) -> Path:
    path = RECORDINGS / name
    if not path.is_file():
        pytest.skip(f"recording {path} not available")
    return path


def client_for(settings: Settings) -> anthropic.AsyncAnthropic:
    assert settings.anthropic_api_key is not None
    return make_client(
        settings.anthropic_api_key.get_secret_value(), base_url=settings.anthropic_base_url,
        max_retries=settings.max_retries, read_timeout=settings.read_timeout,
    )


def settings_for(fake: FakeAnthropic, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"anthropic_api_key": fake.api_key, "anthropic_base_url": fake.url}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


HELPER_EVENTS = {"text", "thinking", "signature", "input_json", "citation"}


async def sdk_parse(fake: FakeAnthropic) -> tuple[list[str], set[str], Any]:
    """For one streamed request: the SDK's raw event kinds (repeats collapsed), its helper events, final message."""
    client = client_for(settings_for(fake))
    kinds: list[str] = []
    helpers: set[str] = set()
    try:
        async with client.messages.stream(
            model="claude-haiku-5-5", max_tokens=256, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for event in stream:
                if event.type in HELPER_EVENTS:
                    helpers.add(event.type)
                    continue
                kind = event.type if event.type != "content_block_delta" else f"delta:{event.delta.type}"
                if not kinds or kinds[-1] != kind:
                    kinds.append(kind)
            return kinds, helpers, await stream.get_final_message()
    finally:
        await client.close()


def content_summary(message: Any) -> list[tuple[str, Any]]:
    summary: list[tuple[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            summary.append(("text", block.text))
        elif block.type == "thinking":
            summary.append(("thinking", block.thinking))
        elif block.type == "tool_use":
            summary.append(("tool_use", block.input))
    return summary


@pytest.mark.parametrize(
    "name",
    [
        "sdkpy_fixture_basic_response.sse",
        "sdkpy_fixture_tool_use_response.sse",
        "pydai_test_anthropic_model_thinking_part_stream_0.sse",
    ],
)
async def test_sdk_parses_the_fake_like_a_real_recording(fake_anthropic: FakeAnthropic, name: str) -> None:
    fake_anthropic.reply = Replay(recording(name), chunk_bytes=97)
    real_kinds, real_helpers, real = await sdk_parse(fake_anthropic)

    summary = content_summary(real)
    texts = [value for kind, value in summary if kind == "text"]
    thinking = [value for kind, value in summary if kind == "thinking"]
    tools = [value for kind, value in summary if kind == "tool_use"]
    fake_anthropic.reply = Reply(
        text="".join(texts),
        blocks=tuple(kind for kind, _ in summary),  # type: ignore[arg-type]
        thinking=thinking[0] if thinking else "",
        tool_input=tools[0] if tools else {},
        stop_reason=real.stop_reason,
    )
    fake_kinds, fake_helpers, fake = await sdk_parse(fake_anthropic)

    assert fake_kinds == real_kinds
    assert fake_helpers == real_helpers
    assert content_summary(fake) == summary
    assert fake.stop_reason == real.stop_reason
    assert fake.usage.output_tokens > 1 and real.usage.output_tokens > 1


async def test_the_warm_up_streams_a_whole_answer_through_the_sdk_in_memory() -> None:
    assert await warm_up()


async def test_fake_frames_events_like_the_api(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(blocks=("thinking", "text", "tool_use"))
    real = recording("sdkpy_fixture_tool_use_response.sse").read_text().rstrip() + "\n\n"  # stored unterminated
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{fake_anthropic.url}/v1/messages",
            json={"model": "m", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": fake_anthropic.api_key},
        ) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            ours = await response.text()

    for raw in (real, ours):
        frames = FRAME.findall(raw)
        assert "".join(f"event: {e}\ndata: {d}\n\n" for e, d in frames).replace(" ", "") == raw.replace(" ", "")
        assert all(json.loads(data)["type"] == event for event, data in frames)
    real_keys = _keys_by_event(real)
    for event, keys in _keys_by_event(ours).items():
        assert keys <= real_keys.get(event, keys | {"missing"}) | {"error"}, event


def _keys_by_event(raw: str) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for event, data in FRAME.findall(raw):
        keys.setdefault(event, set()).update(json.loads(data))
    return keys


async def test_fake_accepts_both_auth_headers_and_rejects_a_wrong_key(fake_anthropic: FakeAnthropic) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        for headers, status in [
            ({"x-api-key": "test-key"}, 200),
            ({"authorization": "Bearer test-key"}, 200),
            ({"x-api-key": "wrong"}, 401),
        ]:
            async with session.post(f"{fake_anthropic.url}/v1/messages", json=body, headers=headers) as response:
                assert response.status == status
                payload = await response.json()
                assert payload["type"] == ("message" if status == 200 else "error")
    assert [r.auth for r in fake_anthropic.requests] == ["x-api-key", "bearer", "x-api-key"]


async def test_non_streaming_request_gets_a_json_message(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(text=lambda body: f"You asked: {question_of(body)}")
    client = client_for(settings_for(fake_anthropic))
    try:
        message = await client.messages.create(
            model="claude-haiku-5-5", max_tokens=64, messages=[{"role": "user", "content": "why stream?"}]
        )
    finally:
        await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "You asked: why stream?"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 0
    assert fake_anthropic.requests[0].auth == "bearer"  # what SDK 2.x sends


async def run(fake: FakeAnthropic, **overrides: Any) -> tuple[Answer, Exception | None, int]:
    """Stream REQUEST with a client made from settings; return the answer, the exception and retries seen."""
    client = client_for(settings_for(fake, **overrides))
    answer, retries = Answer(), []
    try:
        await stream_answer(client, REQUEST, answer, on_text=lambda _: None, on_retry=lambda: retries.append(1))
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return answer, exc, len(retries)
    finally:
        await client.close()
    return answer, None, len(retries)


async def test_mid_stream_error_event_is_a_status_200_api_error(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(text="Hello there, learner", chunk_chars=5, cut=Cut("error", after=2))
    answer, exc, retries = await run(fake_anthropic)

    assert type(exc) is anthropic.APIStatusError and exc.status_code == 200 and exc.type == "overloaded_error"
    assert answer.text == "Hello ther" and not answer.complete and retries == 0
    error = classify(exc, read_timeout=60)
    assert (error.kind, error.reason) == (ErrorKind.TRANSIENT, "Claude is overloaded")


async def test_recorded_mid_stream_error_is_classified_like_the_fake_one(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Replay(recording("synthetic_midstream_overloaded_error.sse"))
    answer, exc, _ = await run(fake_anthropic)

    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == 200
    assert answer.text == "Hello there"
    assert classify(exc, read_timeout=60).reason == "Claude is overloaded"


async def test_dropped_connection_is_the_http_library_error(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(text="Hello there, learner", chunk_chars=5, cut=Cut("drop", after=2))
    answer, exc, retries = await run(fake_anthropic)

    assert isinstance(exc, httpx2.RemoteProtocolError)
    assert answer.text == "Hello ther" and retries == 0 and fake_anthropic.request_count == 1
    assert classify(exc, read_timeout=60).reason == "the connection dropped"


async def test_stall_hits_the_read_timeout(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(text="Hello there, learner", chunk_chars=5, cut=Cut("stall", after=2))
    answer, exc, _ = await run(fake_anthropic, read_timeout=0.2)

    assert isinstance(exc, httpx2.ReadTimeout)
    assert answer.text == "Hello ther"
    assert classify(exc, read_timeout=0.2).reason == "no reply for 0.2 s"
    assert [r.outcome for r in await fake_anthropic.settled()] == ["client_closed"]


async def test_stream_without_message_stop_raises_nothing(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(text="Hello there, learner", chunk_chars=5, cut=Cut("no_stop", after=2))
    answer, exc, _ = await run(fake_anthropic)

    assert exc is None
    assert answer.text == "Hello ther" and not answer.complete and answer.stop_reason is None


async def test_retry_callback_runs_once_per_retry(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Failure(429, retry_after=0.01), Failure(529, retry_after=0.01))
    answer, exc, retries = await run(fake_anthropic)

    assert exc is None and answer.complete and answer.stop_reason == "end_turn"
    assert retries == 2 and fake_anthropic.request_count == 3


async def test_no_retry_callback_after_the_last_attempt(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(*[Failure(500, retry_after=0.01)] * 2)
    _, exc, retries = await run(fake_anthropic, max_retries=1)

    assert isinstance(exc, anthropic.InternalServerError)
    assert retries == 1 and fake_anthropic.request_count == 2
    assert classify(exc, read_timeout=60).kind is ErrorKind.TRANSIENT


async def test_x_should_retry_false_is_not_announced(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Failure(529, should_retry=False))
    _, exc, retries = await run(fake_anthropic)

    assert isinstance(exc, anthropic.OverloadedError)
    assert retries == 0 and fake_anthropic.request_count == 1


async def test_connection_failures_are_retried_and_classified() -> None:
    async with FakeAnthropic() as gone:
        pass  # started and stopped: its port now refuses connections
    answer, exc, retries = await run(gone, max_retries=1)

    assert isinstance(exc, anthropic.APIConnectionError) and retries == 1
    assert answer.text == ""
    assert classify(exc, read_timeout=60).reason == "could not reach the API"  # not "dropped": nothing started


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ErrorKind.AUTH), (403, ErrorKind.AUTH), (400, ErrorKind.REJECTED), (404, ErrorKind.REJECTED)],
)
async def test_status_errors_are_classified(fake_anthropic: FakeAnthropic, status: int, kind: ErrorKind) -> None:
    fake_anthropic.script(Failure(status))
    _, exc, retries = await run(fake_anthropic)

    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == status
    assert classify(exc, read_timeout=60).kind is kind
    assert retries == 0 and fake_anthropic.request_count == 1


def test_unknown_errors_are_unexpected() -> None:
    error = classify(ValueError("boom"), read_timeout=60)
    assert (error.kind, error.detail) == (ErrorKind.UNEXPECTED, "ValueError: boom")


def test_footer_shows_ttft_tokens_and_rate() -> None:
    answer = Answer(started=100.0, first_text_at=100.41, ended_at=100.41 + 312 / 48, reported_output_tokens=312)
    assert answer.footer() == "TTFT 0.41 s · 312 tokens · 48 tok/s"
    assert Answer().footer() == ""


def test_output_tokens_fall_back_to_deltas_until_the_api_reports() -> None:
    answer = Answer(deltas=7)
    assert answer.output_tokens == 7
    answer.reported_output_tokens = 9
    assert answer.output_tokens == 9


def test_client_uses_the_settings() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, anthropic_api_key="k", anthropic_base_url="http://127.0.0.1:9", read_timeout=7, max_retries=4
    )
    client = client_for(settings)
    assert str(client.base_url).startswith("http://127.0.0.1:9")
    assert client.max_retries == 4
    assert isinstance(client.timeout, httpx2.Timeout)
    assert (client.timeout.read, client.timeout.connect) == (7, 5.0)


def test_sse_helper_frames_one_event() -> None:
    assert sse("ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'
