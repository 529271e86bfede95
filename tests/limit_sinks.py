"""Message sinks that behave like Discord's and Slack's message endpoints, limits included (tests and bench).

An :class:`EmulatedPlatform` is one platform connection: it counts every request in sliding windows the
way the platform does (its own code, independent of the pacer's), answers a request over a limit with a
recorded 429 (:class:`RateLimited`), refuses a message over the length limit, and records a violation when a
message gets two requests at once or an edit that changes nothing. Each request waits ``latency`` seconds.
Faults can be injected: the next N requests get a 429 or fail with a connection error.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field

from bot.core.streaming import NativeStreamExpired, RateLimited, RequestKind
from bot.core.streaming.chunking import FENCE_CLOSE, fence_after, reopening_fence

Window = tuple[int, float]


@dataclass(frozen=True)
class PlatformLimits:
    """What a platform enforces: message length, per-bucket windows per request kind, a global window."""

    limit: int
    edit: Window
    post: Window
    global_: Window | None = None
    append: Window | None = None  # native streaming; None: counted as edits
    stop: Window | None = None
    plain: Window | None = None  # a plain post where a native stream could have started (Slack chat.postMessage)


DISCORD = PlatformLimits(limit=2000, edit=(5, 5.0), post=(5, 5.0), global_=(50, 1.0))
# Slack: chat.update (workspace), chat.startStream (workspace), chat.appendStream, chat.stopStream, and
# chat.postMessage per channel (the emulator's "1 per second, short bursts allowed": 60 a minute).
SLACK = PlatformLimits(limit=4000, edit=(50, 60.0), post=(20, 60.0), append=(100, 60.0), stop=(20, 60.0),
                       plain=(60, 60.0))


@dataclass(frozen=True)
class Request:
    at: float  # loop time the request reached the platform
    kind: RequestKind
    bucket: str
    message_id: str
    text: str  # the message's whole text after the request
    rejected: bool = False  # answered 429


@dataclass
class EmulatedPlatform:
    limits: PlatformLimits
    latency: float = 0.0
    record: bool = True  # keep every request (tests); the bench only counts them
    request_count: int = 0
    rejected_count: int = 0
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    inject_429: int = 0  # the next N requests are answered 429 regardless of the windows
    inject_failures: int = 0  # the next N requests fail with ConnectionError
    _stamps: dict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _in_flight: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def sink(self, bucket: str, *, post_bucket: str | None = None, native: bool = False) -> LimitedSink:
        cls = NativeLimitedSink if native else LimitedSink
        return cls(self, bucket, post_bucket)

    def hybrid_sink(self, workspace: str, channel: str, *, stream_lifetime: float = 300.0) -> HybridLimitedSink:
        """A Slack answer that may start a native stream (per ``workspace``) or post plain (per ``channel``)."""
        return HybridLimitedSink(self, workspace, channel, stream_lifetime)

    @property
    def rejections(self) -> list[Request]:
        return [request for request in self.requests if request.rejected]

    def history(self, message_id: str) -> list[str]:
        """Every text the message showed, in order (rejected requests left out)."""
        return [r.text for r in self.requests if r.message_id == message_id and not r.rejected]

    async def handle(self, kind: RequestKind, bucket: str, message_id: str, text: str, *, ends_stream: bool = False
                     ) -> None:
        """One request; ``ends_stream``: an edit that ends a native stream (not a no-op even if the text stays)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if message_id in self._in_flight:
            self.violations.append(f"two requests at once for message {message_id}")
        if kind in ("edit", "append") and text == self.messages.get(message_id) and not ends_stream:
            self.violations.append(f"{kind} of message {message_id} changed nothing")
        if len(text) > self.limits.limit:
            self.violations.append(f"message {message_id} is {len(text)} > {self.limits.limit} characters")
            raise ValueError("message too long")  # the platform's 400
        retry_after = self._over_limit(kind, bucket, now)
        if self.inject_429 and retry_after is None:
            self.inject_429 -= 1
            retry_after = 0.01
        if retry_after is not None:
            self.rejected_count += 1
            self._record(Request(now, kind, bucket, message_id, text, rejected=True))
            raise RateLimited(retry_after)
        if self.inject_failures:
            self.inject_failures -= 1
            raise ConnectionError("connection reset by peer")
        self._in_flight.add(message_id)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self._in_flight.discard(message_id)
        self.messages[message_id] = text
        self._record(Request(now, kind, bucket, message_id, text))

    def _record(self, request: Request) -> None:
        self.request_count += 1
        if self.record:
            self.requests.append(request)

    def _over_limit(self, kind: RequestKind, bucket: str, now: float) -> float | None:
        """Count the request; the seconds until it would have been allowed if it is over a window."""
        window = {"post": self.limits.post, "append": self.limits.append, "stop": self.limits.stop,
                  "plain": self.limits.plain}.get(kind)
        counted = [((kind if window else "edit", bucket), window or self.limits.edit)]
        if self.limits.global_ is not None:
            counted.append((("global", ""), self.limits.global_))
        waits = []
        for key, (count, period) in counted:
            stamps = self._stamps[key]
            while stamps and stamps[0] <= now - period:
                stamps.popleft()
            if len(stamps) >= count:
                waits.append(stamps[0] + period - now)
        if waits:
            return max(waits)
        for key, _ in counted:
            self._stamps[key].append(now)
        return None


class LimitedSink:
    """A conversation on an :class:`EmulatedPlatform`."""

    def __init__(self, platform: EmulatedPlatform, bucket: str, post_bucket: str | None) -> None:
        self.platform = platform
        self.limit = platform.limits.limit
        self.bucket = bucket
        self.post_bucket = post_bucket or bucket
        self.posted: list[str] = []

    async def post(self, text: str, *, final: bool = False) -> str:
        message_id = str(next(self.platform._ids))
        await self.platform.handle("post", self.post_bucket, message_id, text)
        self.posted.append(message_id)
        return message_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        await self.platform.handle("edit", self.bucket, message_id, text)

    def texts(self) -> list[str]:
        """What the messages of this conversation show now."""
        return [self.platform.messages[message_id] for message_id in self.posted]


class NativeLimitedSink(LimitedSink):
    """A conversation whose platform streams natively; ``expire_after`` appends end a message's stream."""

    def __init__(self, platform: EmulatedPlatform, bucket: str, post_bucket: str | None) -> None:
        super().__init__(platform, bucket, post_bucket)
        self.expire_after: int | None = None
        self.streaming: dict[str, int] = {}  # message id -> appends so far

    async def post(self, text: str, *, final: bool = False) -> str:
        message_id = await super().post(text)
        self.streaming[message_id] = 0
        return message_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        ends_stream = message_id in self.streaming
        await self.platform.handle("edit", self.bucket, message_id, text, ends_stream=ends_stream)
        self.streaming.pop(message_id, None)  # an edit ends the stream

    async def append(self, message_id: str, delta: str) -> None:
        self._still_streaming(message_id)
        await self.platform.handle("append", self.bucket, message_id, self.platform.messages[message_id] + delta)
        self.streaming[message_id] += 1

    async def stop(self, message_id: str, delta: str) -> None:
        self._still_streaming(message_id)
        await self.platform.handle("stop", self.bucket, message_id, self.platform.messages[message_id] + delta)
        del self.streaming[message_id]

    def _still_streaming(self, message_id: str) -> None:
        appends = self.streaming.get(message_id)
        if appends is None or (self.expire_after is not None and appends >= self.expire_after):
            self.streaming.pop(message_id, None)
            raise NativeStreamExpired(message_id)


class HybridLimitedSink(NativeLimitedSink):
    """A Slack answer: each message a native stream or a plain post edited afterwards (``HybridStreamSink``).

    The platform ends a stream ``stream_lifetime`` seconds after it started (appending later raises
    ``NativeStreamExpired``, as Slack answers ``message_not_in_streaming_state``)."""

    def __init__(self, platform: EmulatedPlatform, workspace: str, channel: str, stream_lifetime: float) -> None:
        super().__init__(platform, workspace, workspace)
        self.plain_post_bucket = channel
        self.native = True
        self.stream_lifetime = stream_lifetime
        self.started: dict[str, float] = {}
        self.plain: list[str] = []

    async def post(self, text: str, *, final: bool = False) -> str:
        message_id = await super().post(text, final=final)
        self.started[message_id] = asyncio.get_running_loop().time()
        return message_id

    async def post_plain(self, text: str, *, final: bool = False) -> str:
        message_id = str(next(self.platform._ids))
        await self.platform.handle("plain", self.plain_post_bucket, message_id, text)
        self.posted.append(message_id)
        self.plain.append(message_id)
        return message_id

    def _still_streaming(self, message_id: str) -> None:
        started = self.started.get(message_id)
        if started is not None and asyncio.get_running_loop().time() - started > self.stream_lifetime:
            self.platform.violations.append(f"message {message_id} was still streaming when its stream expired")
            self.streaming.pop(message_id, None)
            raise NativeStreamExpired(message_id)
        super()._still_streaming(message_id)


def rejoin(messages: list[str]) -> str:
    """The text split over ``messages``, without the fence lines added where a code block was cut."""
    source = ""
    for index, message in enumerate(messages):
        fence = fence_after(source)
        if index and fence is not None:
            reopen = reopening_fence(fence)
            assert message.startswith(reopen), f"message {index} does not reopen the ```{fence} block"
            message = message[len(reopen) :]
        body = message[: -len(FENCE_CLOSE)]
        cut_in_block = message.endswith(FENCE_CLOSE) and fence_after(source + body) is not None
        if index < len(messages) - 1 and cut_in_block:
            message = body
        source += message
    return source
