"""A fake Anthropic Messages API that speaks the real wire format, for tests.

``POST /v1/messages`` with ``"stream": true`` answers Server-Sent Events exactly as the API frames them
(``event: <type>`` and ``data: <json>`` lines, then a blank line): ``message_start`` with usage, ``ping``s,
content blocks (``thinking`` with ``thinking_delta``/``signature_delta``, ``tool_use`` with
``input_json_delta``, ``text`` with ``text_delta``), ``message_delta`` with ``stop_reason`` and cumulative
usage, ``message_stop``. Without ``stream`` the same answer comes back as one JSON message.

Each test scripts what the next requests get (``script(...)``, consumed in order, then ``reply``):

* ``Reply``: the answer text (or a function of the request body), the block layout (or ``parts``: text
  blocks, some of them ``Cited``, streamed as the API streams citations), the pace
  (``tokens_per_second``; one delta counts as one token) and an optional ``Cut``: an ``event: error``
  mid-stream, a TCP drop, a stall (nothing more is sent until the client gives up), or a clean end
  without ``message_stop`` (after ``after`` text deltas, or right after ``message_delta``: ``after_delta``).
* ``Failure``: an HTTP error status before any byte of the stream (401, 403, 429 with ``retry-after``,
  500, 529, ...), with the API's JSON error body.
* ``Replay``: the bytes of a recorded ``.sse`` file, served verbatim (the path is given at test time;
  recordings are never copied into the project).

Citations as the real API streams them (checked against recordings by ``tests/unit/test_anthropic_citations.py``):
a cited span is a text block of its own whose ``content_block_start`` carries ``"citations": []``, then one
``citations_delta`` (a ``content_block_location`` in the request's first document, ``cited_text`` the cited
blocks joined), then its ``text_delta``s; text between citations comes in blocks without ``citations``. A span
cites nothing when the request has no document with citations enabled (the model could not cite).

``GET /v1/models/{model_id}`` answers the model's metadata (what the bot's start-up check asks: it generates
nothing): 401 for a wrong key, 404 for an id outside ``models`` when that is set; ``model_lookups`` lists the
ids asked for.

Both authentication headers are accepted (``authorization: Bearer`` from SDK 2.x, ``x-api-key`` from 0.x);
a wrong key gets the API's 401. Every request is recorded (``requests``: body, headers, the text streamed so
far, and how the response ended: ``outcome`` is ``client_closed`` when the client closed the connection of a
stream before its end, as stopping or a read timeout must; ``received_at`` and ``stop_sent_at``, on
``time.monotonic()``, when the request arrived and when its ``message_stop`` was about to be written);
``open_connections`` counts the client's open HTTP connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

BlockKind = Literal["text", "thinking", "tool_use"]
CutKind = Literal["error", "drop", "stall", "no_stop", "after_delta"]
# complete: the whole body was sent; cut: a scripted Cut ended it; client_closed: the client closed the
# connection before the end; failed: an error status was returned.
Outcome = Literal["pending", "complete", "cut", "client_closed", "failed"]

DEFAULT_TEXT = "Streaming sends the answer as it is written, so the first words arrive at once."

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class Cut:
    """How a stream ends early, after ``after`` text deltas have been sent (``after_delta``: after message_delta)."""

    kind: CutKind
    after: int = 2
    error_type: str = "overloaded_error"  # for kind="error"


@dataclass(frozen=True, slots=True)
class Cited:
    """Answer text citing blocks ``start_block`` to ``end_block`` (exclusive; default: that one block) of the
    request's first document."""

    text: str
    start_block: int
    end_block: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer."""

    text: str | Callable[[dict[str, Any]], str] = DEFAULT_TEXT
    blocks: tuple[BlockKind, ...] = ("text",)
    chunk_chars: int = 6
    tokens_per_second: float | None = None  # None: as fast as possible
    cut: Cut | None = None
    thinking: str = "The learner asks about streaming; answer from the lesson."
    tool_input: dict[str, Any] = field(default_factory=lambda: {"query": "streaming events", "limit": 3})
    stop_reason: str | None = None  # None: "tool_use" when the last block is tool_use, else "end_turn"
    parts: tuple[str | Cited, ...] = ()  # when set: the answer's text blocks, replacing ``text`` and ``blocks``


@dataclass(frozen=True, slots=True)
class Failure:
    """An HTTP error status returned before the stream starts."""

    status: int
    retry_after: float | None = None
    should_retry: bool | None = None  # sends x-should-retry when set
    message: str = "The fake API refused this request."


@dataclass(frozen=True, slots=True)
class Replay:
    """Serve the bytes of a recorded SSE file verbatim, ``chunk_bytes`` per write.

    Some stored recordings lost the blank line that ends the API's last event; ``terminate`` puts it back
    (the SDK does not dispatch an unterminated event).
    """

    path: Path
    chunk_bytes: int = 512
    terminate: bool = True


Scripted = Reply | Failure | Replay


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake saw it."""

    body: dict[str, Any]
    headers: dict[str, str]
    auth: Literal["bearer", "x-api-key", "none"]
    outcome: Outcome = "pending"
    text_sent: str = ""  # the answer text written to the stream so far
    received_at: float = field(default_factory=time.monotonic)
    stop_sent_at: float | None = None  # just before message_stop was written: the client cannot have it yet

    @property
    def system_blocks(self) -> list[dict[str, Any]]:
        return _system_blocks(self.body)

    @property
    def documents(self) -> list[dict[str, Any]]:
        """The document blocks of the request's messages, in order."""
        return _documents(self.body)

    @property
    def question(self) -> str:
        """The text of the last user message."""
        return question_of(self.body)


def question_of(body: dict[str, Any]) -> str:
    """The text of a request's last message (its text blocks: a document before the question is left out)."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event, framed as the API frames it."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class FakeAnthropic:
    """The fake server. Use ``async with FakeAnthropic() as fake:`` or the ``fake_anthropic`` fixture."""

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.reply: Reply = Reply()
        self.requests: list[RecordedRequest] = []
        self.models: set[str] | None = None  # the model ids GET /v1/models/{id} knows; None: every id
        self.model_lookups: list[str] = []
        self._queue: deque[Scripted] = deque()
        self._cached_prefixes: set[str] = set()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> FakeAnthropic:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models/{model_id}", self._model)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAnthropic:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- scripting and inspection ----------------------------------------------------------------

    def script(self, *responses: Scripted) -> None:
        """Queue what the next requests get, in order; afterwards ``reply`` answers."""
        self._queue.extend(responses)

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def open_connections(self) -> int:
        """HTTP connections the client holds open (kept-alive ones included)."""
        return len(self._runner.server.connections) if self._runner and self._runner.server else 0

    async def settled(self, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait (bounded) until no response is being sent any more; return the requests.

        A stream the client abandoned without closing its connection stays ``pending`` (a leak); one it
        closed ends as ``client_closed``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(r.outcome == "pending" for r in self.requests) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self.requests

    # -- the endpoint --------------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        auth, key = _credentials(request)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid_request_error", "The request body is not valid JSON.")
        recorded = RecordedRequest(body=body, headers=dict(request.headers), auth=auth)
        self.requests.append(recorded)
        if key != self.api_key:
            recorded.outcome = "failed"
            return _error(401, "authentication_error", "invalid x-api-key")

        scripted = self._queue.popleft() if self._queue else self.reply
        if isinstance(scripted, Failure):
            recorded.outcome = "failed"
            return _failure(scripted)
        if isinstance(scripted, Reply) and not body.get("stream"):
            recorded.outcome = "complete"
            return web.json_response(self._message_json(body, scripted))
        response = await self._start_stream(request)
        try:
            if isinstance(scripted, Replay):
                recorded.outcome = await self._replay(response, scripted)
            else:
                recorded.outcome = await self._stream(request, response, recorded, scripted)
        except ConnectionResetError:  # the client closed the connection before the end (stop, read timeout)
            recorded.outcome = "client_closed"
        return response

    async def _model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        self.model_lookups.append(model_id)
        if _credentials(request)[1] != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if self.models is not None and model_id not in self.models:
            return _error(404, "not_found_error", f"model: {model_id}")
        return web.json_response({"type": "model", "id": model_id, "display_name": model_id,
                                  "created_at": "2025-02-19T00:00:00Z", "lifecycle": "active"})

    async def _replay(self, response: web.StreamResponse, replay: Replay) -> Outcome:
        data = replay.path.read_bytes()
        if replay.terminate and not data.endswith(b"\n\n"):
            data = data.rstrip(b" \n") + b"\n\n"
        for start in range(0, len(data), replay.chunk_bytes):
            await response.write(data[start : start + replay.chunk_bytes])
        await response.write_eof()
        return "complete"

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, recorded: RecordedRequest, reply: Reply
    ) -> Outcome:
        delay = 1 / reply.tokens_per_second if reply.tokens_per_second else 0.0
        text_deltas = 0
        for event, data in self._events(recorded.body, reply):
            if reply.cut is not None and _cut_now(reply.cut, event, text_deltas):
                await self._cut(request, response, reply.cut)
                return "cut"
            if event == "content_block_delta" and delay:
                await asyncio.sleep(delay)
            if event == "message_stop":
                recorded.stop_sent_at = time.monotonic()
            await response.write(sse(event, data))
            if event == "content_block_delta" and data["delta"]["type"] == "text_delta":
                text_deltas += 1
                recorded.text_sent += data["delta"]["text"]
        await response.write_eof()
        return "complete"

    async def _start_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "request-id": f"req_fake{len(self.requests):06d}",
            }
        )
        await response.prepare(request)
        return response

    async def _cut(self, request: web.Request, response: web.StreamResponse, cut: Cut) -> None:
        transport = request.transport
        assert transport is not None
        if cut.kind == "error":
            error = {"type": cut.error_type, "message": cut.error_type.replace("_error", "").capitalize()}
            await response.write(sse("error", {"type": "error", "error": {"details": None, **error}}))
            await response.write_eof()
        elif cut.kind in ("no_stop", "after_delta"):
            await response.write_eof()
        elif cut.kind == "drop":
            while transport.get_write_buffer_size():  # what was written reaches the client first
                await asyncio.sleep(0.005)
            transport.abort()
        else:  # stall: send nothing more until the client gives up or the server stops
            while not transport.is_closing() and not self._closing.is_set():
                await asyncio.sleep(0.01)
            if transport.is_closing():
                raise ConnectionResetError("the client closed the stalled stream")
            transport.abort()

    # -- building the answer --------------------------------------------------------------------

    def _events(self, body: dict[str, Any], reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
        message = self._message_json(body, reply, content=[])
        usage = dict(message["usage"], output_tokens=1)
        yield "message_start", {"type": "message_start", "message": dict(message, usage=usage)}
        yield "ping", {"type": "ping"}
        output_tokens = 0
        citations = _citations(body, reply)
        for index, (kind, part) in enumerate(_layout(reply, _answer_text(body, reply))):
            start = _empty(kind, index)
            deltas = _deltas(kind, part, reply.chunk_chars)
            if citations[index] is not None:  # the recordings' key order and delta order
                start = {"citations": [], **start}
                deltas = [{"type": "citations_delta", "citation": citations[index]}, *deltas]
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            for delta in deltas:
                output_tokens += 1
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
            if index == 0:
                yield "ping", {"type": "ping"}
        final_usage = dict(message["usage"], output_tokens=output_tokens)
        delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        yield "message_delta", {"type": "message_delta", "delta": delta, "usage": final_usage}
        yield "message_stop", {"type": "message_stop"}

    def _message_json(
        self, body: dict[str, Any], reply: Reply, content: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        layout = _layout(reply, _answer_text(body, reply))
        if content is None:
            citations = _citations(body, reply)
            content = [_full(kind, index, part) for index, (kind, part) in enumerate(layout)]
            for block, citation in zip(content, citations, strict=True):
                if citation is not None:
                    block["citations"] = [citation]
        output_tokens = sum(len(_deltas(kind, part, reply.chunk_chars)) for kind, part in layout)
        return {
            "id": f"msg_fake{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": _stop_reason(reply) if content else None,
            "stop_sequence": None,
            "usage": dict(self._input_usage(body), output_tokens=output_tokens),
        }

    def _input_usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Token counts: 4 characters a token; the prompt up to its last ``cache_control`` block (system blocks,
        then the messages' blocks) is written to the cache once, then read."""
        blocks = _prompt_blocks(body)
        marked = [i for i, block in enumerate(blocks) if block.get("cache_control")]
        split = marked[-1] + 1 if marked else 0
        prefix = json.dumps(blocks[:split], sort_keys=True) if split else ""
        rest = json.dumps(blocks[split:])
        cached = len(prefix) // 4
        digest = hashlib.sha256(prefix.encode()).hexdigest()
        hit = bool(prefix) and digest in self._cached_prefixes
        if prefix:
            self._cached_prefixes.add(digest)
        return {
            "input_tokens": max(1, len(rest) // 4),
            "cache_creation_input_tokens": 0 if hit else cached,
            "cache_read_input_tokens": cached if hit else 0,
        }


def _system_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    system = body.get("system", [])
    return [{"type": "text", "text": system}] if isinstance(system, str) else list(system)


def _prompt_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The prompt in order: system blocks, then each message's content blocks (a string is one text block)."""
    blocks = _system_blocks(body)
    for message in body.get("messages", []):
        content = message.get("content", "")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        blocks += [dict(part, role=message.get("role")) for part in parts]
    return blocks


def _documents(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part for message in body.get("messages", []) if isinstance(message.get("content"), list)
        for part in message["content"] if part.get("type") == "document"
    ]


def _citations(body: dict[str, Any], reply: Reply) -> list[dict[str, Any] | None]:
    """Per block of the layout, the citation its text carries (None: the block cites nothing)."""
    if not reply.parts:
        return [None] * len(_layout(reply, _answer_text(body, reply)))
    documents = _documents(body)
    document = documents[0] if documents else None
    citable = document is not None and (document.get("citations") or {}).get("enabled") \
        and document["source"].get("type") == "content"
    out: list[dict[str, Any] | None] = []
    for part in reply.parts:
        if not isinstance(part, Cited) or not citable:
            out.append(None)
            continue
        assert document is not None
        content = document["source"]["content"]
        end = part.end_block if part.end_block is not None else part.start_block + 1
        out.append({
            "type": "content_block_location",
            "cited_text": "".join(block["text"] for block in content[part.start_block:end]),
            "document_index": 0,
            "document_title": document.get("title"),
            "start_block_index": part.start_block,
            "end_block_index": end,
        })
    return out


def _credentials(request: web.Request) -> tuple[Literal["bearer", "x-api-key", "none"], str]:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return "bearer", authorization[7:].strip()
    if "x-api-key" in request.headers:
        return "x-api-key", request.headers["x-api-key"]
    return "none", ""


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fakeerror"}
    return web.json_response(body, status=status, headers=headers)


def _failure(failure: Failure) -> web.Response:
    headers = {}
    if failure.retry_after is not None:
        headers["retry-after"] = f"{failure.retry_after:g}"
    if failure.should_retry is not None:
        headers["x-should-retry"] = "true" if failure.should_retry else "false"
    error_type = ERROR_TYPES.get(failure.status, "api_error")
    return _error(failure.status, error_type, failure.message, headers)


def _answer_text(body: dict[str, Any], reply: Reply) -> str:
    if reply.parts:
        return "".join(part.text if isinstance(part, Cited) else part for part in reply.parts)
    if callable(reply.text):
        return reply.text(body)
    return reply.text


def _layout(reply: Reply, text: str) -> list[tuple[BlockKind, str]]:
    """Each block with its content; the answer text is shared out evenly over the text blocks (``parts``: one
    text block each)."""
    if reply.parts:
        return [("text", part.text if isinstance(part, Cited) else part) for part in reply.parts]
    text_blocks = reply.blocks.count("text") or 1
    size = -(-len(text) // text_blocks)
    pieces = iter([text[i * size : (i + 1) * size] for i in range(text_blocks)])
    layout: list[tuple[BlockKind, str]] = []
    for kind in reply.blocks:
        if kind == "text":
            layout.append((kind, next(pieces)))
        elif kind == "thinking":
            layout.append((kind, reply.thinking))
        else:
            layout.append((kind, json.dumps(reply.tool_input)))
    return layout


def _cut_now(cut: Cut, event: str, text_deltas: int) -> bool:
    """Whether the stream ends before ``event``."""
    return event == "message_stop" if cut.kind == "after_delta" else text_deltas >= cut.after


def _stop_reason(reply: Reply) -> str:
    return reply.stop_reason or ("tool_use" if reply.blocks[-1] == "tool_use" else "end_turn")


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _deltas(kind: BlockKind, part: str, chunk_chars: int) -> list[dict[str, Any]]:
    if kind == "text":
        return [{"type": "text_delta", "text": chunk} for chunk in _chunks(part, chunk_chars)]
    if kind == "thinking":
        thinking = [{"type": "thinking_delta", "thinking": chunk} for chunk in _chunks(part, chunk_chars)]
        return [*thinking, {"type": "signature_delta", "signature": _signature(part)}]
    return [{"type": "input_json_delta", "partial_json": chunk} for chunk in _chunks(part, chunk_chars)]


def _signature(thinking: str) -> str:
    return hashlib.sha256(thinking.encode()).hexdigest()


def _empty(kind: BlockKind, index: int) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "tool_use", "id": f"toolu_fake{index:04d}", "name": "search_lesson", "input": {}}


def _full(kind: BlockKind, index: int, part: str) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "text": part}
    if kind == "thinking":
        return {"type": "thinking", "thinking": part, "signature": _signature(part)}
    return dict(_empty(kind, index), input=json.loads(part))
