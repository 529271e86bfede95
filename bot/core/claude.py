"""The Claude side of a lab answer: the client, the answer stream as text, and what went wrong.

* ``make_client(api_key, ...)``: an ``AsyncAnthropic`` with the key, base URL, retries and a short read
  timeout (a stalled stream must not hold a lab thread for the SDK's default 10 minutes).
* ``stream_answer(...)``: streams one answer with ``client.messages.stream``, calling ``on_text`` with the
  whole text so far on every text delta (thinking and tool_use blocks are not shown; citations are collected
  beside the text, which they never change), filling an ``Answer`` that survives a failure half-way, and
  closing the HTTP stream when ``stop`` is set.
* ``classify(exc)``: turns an exception the SDK or its HTTP library raised into a ``ClaudeError``.

How errors really surface (SDK 2.x): before the first byte the SDK raises its status errors and retries
408/409/429/5xx and connection failures itself (``max_retries``); once a 2xx stream has started nothing is
retried, and a failure is a plain ``APIStatusError`` with status 200 for an ``event: error``, the HTTP
library's ``RemoteProtocolError``/``ReadError`` for a dropped connection, its ``ReadTimeout`` for a stall,
or nothing at all for a stream that ends without ``message_stop`` (then ``Answer.complete`` stays False).

Retries are made visible through the SDK's own client middleware, which runs once per HTTP attempt inside
its retry loop: when an attempt failed and another will follow, it calls the ``on_retry`` callback that the
current ``stream_answer`` put in a context variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic import APIRequest, AsyncAnthropic, AsyncAPIResponse, AsyncCallNext, Middleware
from anthropic.types import MessageParam, TextBlockParam, TextCitation

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0

_on_retry: ContextVar[Callable[[], None] | None] = ContextVar("coursebot_claude_on_retry", default=None)


class RetryNotifier(Middleware):
    """Calls the current answer's ``on_retry`` when an attempt failed and the SDK is about to retry it.

    The decision mirrors the SDK's documented retry policy (``x-should-retry`` first, then 408, 409, 429
    and 5xx, and connection failures); it only decides what the learner sees, never what is retried.
    """

    def __init__(self, max_retries: int) -> None:
        self._max_retries = max_retries

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        max_retries = request.max_retries if isinstance(request.max_retries, int) else self._max_retries
        retries_left = request.retries_taken < max_retries
        try:
            response = await call_next(request)
        except anthropic.APIConnectionError:
            if retries_left:
                _notify_retry()
            raise
        if retries_left and _will_retry(response.http_response):
            _notify_retry()
        return response


def _will_retry(response: httpx2.Response) -> bool:
    if response.is_success:
        return False
    should_retry = response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return response.status_code in (408, 409, 429) or response.status_code >= 500


def _notify_retry() -> None:
    callback = _on_retry.get()
    if callback is not None:
        callback()


def make_client(api_key: str, *, base_url: str | None, max_retries: int, read_timeout: float) -> AsyncAnthropic:
    """The client every lab shares."""
    return AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries,
        timeout=anthropic.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
        middleware=[RetryNotifier(max_retries)],
    )


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    model: str
    max_tokens: int
    system: Sequence[TextBlockParam]
    messages: Sequence[MessageParam]


@dataclass(slots=True)
class Answer:
    """What has arrived of one answer so far; kept when the stream fails half-way."""

    text: str = ""
    deltas: int = 0  # content deltas received (every block type)
    started: float = field(default_factory=time.monotonic)
    first_text_at: float | None = None
    ended_at: float | None = None
    complete: bool = False  # message_stop arrived
    stopped: bool = False  # the caller's stop event closed the stream
    stop_reason: str | None = None
    input_tokens: int = 0
    reported_output_tokens: int | None = None  # from message_delta (cumulative)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    citations: list[TextCitation] = field(default_factory=list)  # as they arrived (``citations_delta``)

    @property
    def output_tokens(self) -> int:
        """The API's count once ``message_delta`` arrived; before that, one per delta received."""
        return self.reported_output_tokens if self.reported_output_tokens is not None else self.deltas

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_text_at is None else (self.first_text_at - self.started) * 1000

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started) * 1000

    @property
    def tokens_estimated(self) -> bool:
        """True when the stream ended before the API reported its token count (``message_delta``)."""
        return self.reported_output_tokens is None

    def footer(self) -> str:
        """``TTFT 0.41 s · 312 tokens · 48 tok/s`` (empty before any text); ``≈110 tokens (estimated)`` when the
        stream was cut before the API's count arrived (about four characters a token)."""
        if self.first_text_at is None:
            return ""
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        generating = end - self.first_text_at
        elapsed = generating if generating > 0 else end - self.started
        ttft = self.first_text_at - self.started
        if self.tokens_estimated:
            estimate = max(1, round(len(self.text) / 4))
            return f"TTFT {ttft:.2f} s · ≈{estimate} tokens (estimated)"
        rate = self.output_tokens / elapsed if elapsed > 0 else 0.0
        return f"TTFT {ttft:.2f} s · {self.output_tokens} tokens · {rate:.0f} tok/s"

    def add_event(self, event: Any) -> str | None:
        """Fold one stream event into the answer; return the new text when it grew."""
        if event.type == "message_start":
            usage = event.message.usage
            self.input_tokens = usage.input_tokens
            self.cache_read_tokens = usage.cache_read_input_tokens or 0
            self.cache_write_tokens = usage.cache_creation_input_tokens or 0
        elif event.type == "content_block_delta":
            self.deltas += 1
        elif event.type == "text" and event.text:
            if self.first_text_at is None:
                self.first_text_at = time.monotonic()
            self.text += event.text
            return self.text
        elif event.type == "citation":  # the SDK's event for a citations_delta; the text is not changed
            self.citations.append(event.citation)
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason
            usage = event.usage
            self.reported_output_tokens = usage.output_tokens
            if usage.input_tokens is not None:
                self.input_tokens = usage.input_tokens
            if usage.cache_read_input_tokens is not None:
                self.cache_read_tokens = usage.cache_read_input_tokens
            if usage.cache_creation_input_tokens is not None:
                self.cache_write_tokens = usage.cache_creation_input_tokens
        elif event.type == "message_stop":
            self.complete = True
        return None


async def stream_answer(
    client: AsyncAnthropic,
    request: AnswerRequest,
    answer: Answer,
    *,
    on_text: Callable[[str], None],
    on_retry: Callable[[], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Stream one answer into ``answer``; return when it ends or ``stop`` is set (the stream is closed).

    Raises what the SDK and HTTP library raise (see ``classify``); ``answer`` keeps what arrived.
    """
    reader = asyncio.create_task(_read(client, request, answer, on_text, on_retry))
    try:
        if stop is None:
            await reader
            return
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not reader.done():
            answer.stopped = True
            reader.cancel()  # leaving the stream's ``async with`` closes the HTTP response
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            return
        reader.result()
    finally:
        if not reader.done():  # our caller was cancelled
            reader.cancel()
        answer.ended_at = time.monotonic()


async def _read(
    client: AsyncAnthropic,
    request: AnswerRequest,
    answer: Answer,
    on_text: Callable[[str], None],
    on_retry: Callable[[], None],
) -> None:
    _on_retry.set(on_retry)  # this task runs in its own copy of the context
    async with client.messages.stream(
        model=request.model,
        max_tokens=request.max_tokens,
        system=list(request.system),
        messages=list(request.messages),
    ) as stream:
        async for event in stream:
            text = answer.add_event(event)
            if text is not None:
                on_text(text)


_WARM_UP = (  # a whole answer as the API streams it: one text block of one delta
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_warm_up", "type": "message", "role": "assistant", "model": "warm-up", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "."}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 1}}),
    ("message_stop", {"type": "message_stop"}),
)


async def warm_up() -> bool:
    """Stream one canned answer through the SDK in memory (no network, no key); whether it came through whole.
    The SDK sets up its response models on first use, about 35 ms of CPU on the benchmark machine, which would
    otherwise be spent in a fresh process's first answer: when a class asks at once, the second every question
    and quiz click arrives (bench/RESULTS.md)."""
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in _WARM_UP).encode()

    def respond(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    request = AnswerRequest(model="warm-up", max_tokens=1, system=(), messages=[{"role": "user", "content": "."}])
    answer = Answer()
    try:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(respond)) as http:
            client = AsyncAnthropic(api_key="warm-up", http_client=http, max_retries=0)
            await stream_answer(client, request, answer, on_text=lambda _text: None, on_retry=lambda: None)
    except Exception:  # only a first answer's speed depends on it
        log.debug("the SDK warm-up failed", exc_info=True)
    return answer.complete and answer.text == "."


class ErrorKind(enum.Enum):
    AUTH = "auth"  # the key was rejected (401/403): the operator must act
    REJECTED = "rejected"  # the request or a setting is wrong (400, 404, 413, 422): asking again will not help
    TRANSIENT = "transient"  # overload, rate limit, 5xx, network, timeout, a cut stream: asking again may help
    UNEXPECTED = "unexpected"  # anything else (a bug): logged with its traceback


@dataclass(frozen=True, slots=True)
class ClaudeError:
    kind: ErrorKind
    reason: str  # a short phrase for the learner, e.g. "the connection dropped"
    detail: str  # recorded with the turn and logged: class, status, API error type (never a secret)
    config: bool = False  # a rejected key or an unknown model: no question can succeed until the operator acts


def classify(exc: Exception, *, read_timeout: float) -> ClaudeError:
    """Name what went wrong. Works for failures before the stream (after the SDK's retries) and mid-stream."""
    detail = _detail(exc)
    if isinstance(exc, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
        return ClaudeError(ErrorKind.AUTH, "the assistant is not configured correctly", detail, config=True)
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 200:  # an ``event: error`` inside a started stream
            reason = "Claude is overloaded" if exc.type == "overloaded_error" else f"the API reported {exc.type}"
            return ClaudeError(ErrorKind.TRANSIENT, reason, detail)
        if exc.status_code == 429:
            return ClaudeError(ErrorKind.TRANSIENT, "Claude is receiving too many requests", detail)
        if exc.status_code >= 500:
            return ClaudeError(ErrorKind.TRANSIENT, "Claude is overloaded", detail)
        if exc.status_code == 404:
            return ClaudeError(ErrorKind.REJECTED, "the configured model was not found", detail, config=True)
        return ClaudeError(ErrorKind.REJECTED, "the request was rejected", detail)
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return ClaudeError(ErrorKind.TRANSIENT, f"no reply for {read_timeout:g} s", detail)
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.ConnectError)):  # no response at all
        return ClaudeError(ErrorKind.TRANSIENT, "could not reach the API", detail)
    if isinstance(exc, httpx2.TransportError):  # a response had started: the stream was cut
        return ClaudeError(ErrorKind.TRANSIENT, "the connection dropped", detail)
    return ClaudeError(ErrorKind.UNEXPECTED, "an unexpected error", detail)


def _detail(exc: Exception) -> str:
    name = type(exc).__name__
    if isinstance(exc, anthropic.APIStatusError):
        parts = [f"{name} {exc.status_code}", exc.type or "", exc.api_message or ""]
        return ": ".join(part for part in parts if part)
    return f"{name}: {exc}" if str(exc) else name


def log_for_operator(error: ClaudeError, exc: Exception, *, model: str, cooldown: float) -> None:
    """One actionable log line; the API key is never logged."""
    status = getattr(exc, "status_code", None)
    paused = f"lab questions get \"not available\" without an API call for {cooldown:.0f} s, then it is tried again"
    if error.kind is ErrorKind.AUTH:
        what = "was rejected" if status == 401 else "is not allowed to use this API or model"
        log.error(
            "ANTHROPIC_API_KEY %s (%s): set a valid key (Claude Console > API keys) in the environment or .env "
            "and restart coursebot; %s",
            what,
            status,
            paused,
        )
    elif status == 404:
        log.error("COURSEBOT_MODEL=%s was not found (404): choose a model your key can use; %s", model, paused)
    elif error.kind is ErrorKind.REJECTED:
        log.error("Claude rejected a lab request (%s)", error.detail)
    elif error.kind is ErrorKind.UNEXPECTED:
        log.error("lab answer failed unexpectedly", exc_info=exc)
    else:
        log.warning("lab answer failed: %s (%s)", error.reason, error.detail)
