"""Rate budgets that belong to the app, not to a process: sliding windows kept in Redis.

An acquire takes one request slot in every window it names at once (Discord: the bot's global 50/s and the
route's bucket; Slack: a method's tier in a workspace), or in none: one Lua script checks and stamps them all
atomically, so two processes can never both take the last slot. Each window is a sorted set of grant times
(a sliding-window log, the same rule as the in-process ``Pacer``: never more than ``count`` grants in any
``period``). The clock is Redis's ``TIME``, so processes on different hosts agree; a window's key expires one
period after its last grant, so idle buckets vanish. A GCRA (one timestamp per window) would be cheaper to
store but lets up to ``2 * count - 1`` requests into some ``period``, which the platforms answer with 429s.

While Redis is unreachable (see ``bot.core.shared.link``) the same windows are kept in this process at the
link's share of each count (at least 1). Crossing over is not seamless: in the period after a switch, a window
can hold both the shared grants of before and the local grants of after (at most ``count`` plus the processes'
shares, in the worst case of a full window at the moment Redis went away); the pacer's margins and the
platforms' own 429 handling absorb that rare overlap.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.shared.link import RedisLink, RedisUnavailable

_SWEEP_AT = 1024  # fallback windows kept before the idle ones are forgotten

# KEYS: one sorted set per window (members: grants, scores: their Redis time in microseconds).
# ARGV: the grant's id, then each window's count and period (microseconds), in KEYS order.
# Returns 0 when granted, else the microseconds until every window has room.
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local count, period = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  if redis.call('ZCARD', key) >= count then
    local oldest = redis.call('ZRANGE', key, -count, -count, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + period - now)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i + 1]) / 1000))
end
return 0
"""


@dataclass(frozen=True)
class SharedWindow:
    """At most ``count`` requests in any ``period`` seconds, for everything of the app named ``name``."""

    name: str  # e.g. "global", "edit:<channel id>", "chat.update:<team id>"
    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.period <= 0:
            raise ValueError(f"a shared window needs at least 1 request over a positive period, got {self}")


@dataclass(frozen=True)
class Verdict:
    """Granted (``retry_after`` 0), or come back after ``retry_after`` seconds."""

    retry_after: float = 0.0

    @property
    def granted(self) -> bool:
        return self.retry_after <= 0


GRANTED = Verdict()


class SharedBudget:
    """The app's windows in Redis; one per app and process, ``scoped`` per pacer so names never collide."""

    def __init__(self, link: RedisLink, *, scope: str = "budget") -> None:
        self.link = link
        self.scope = scope
        self._script = link.script(_ACQUIRE)
        self._fallback = _LocalWindows()
        self._grant_ids = itertools.count()

    def scoped(self, scope: str) -> SharedBudget:
        """The same budget under a narrower name (``scoped("stream")``): shares the link and the fallback."""
        view = copy.copy(self)
        view.scope = f"{self.scope}:{scope}"
        return view

    async def acquire(self, windows: Sequence[SharedWindow]) -> Verdict:
        """Take a slot in every window at once, or in none and learn how long to wait."""
        if not windows:
            return GRANTED
        keys = [self.link.key(self.scope, window.name) for window in windows]
        args: list[str | int] = [f"{self.link.member}:{next(self._grant_ids)}"]
        for window in windows:
            args += [window.count, math.ceil(window.period * 1_000_000)]
        try:
            wait = await self.link.call(lambda: self._script(keys=keys, args=args))
        except RedisUnavailable:
            return self._fallback.acquire(keys, windows, self.link.share, time.monotonic())
        return Verdict(int(wait) / 1_000_000)

    async def wait(self, windows: Sequence[SharedWindow]) -> None:
        """Acquire, sleeping as long as the budget says between attempts."""
        while not (verdict := await self.acquire(windows)).granted:
            await asyncio.sleep(verdict.retry_after)


class _LocalWindows:
    """The windows kept in this process while Redis is unreachable, each at ``share`` of its count."""

    def __init__(self) -> None:
        self._logs: dict[str, tuple[float, deque[float]]] = {}  # key -> (period, grant times)
        self._sweep_at = _SWEEP_AT

    def acquire(self, keys: Sequence[str], windows: Sequence[SharedWindow], share: float, now: float) -> Verdict:
        wait = 0.0
        for key, window in zip(keys, windows):
            stamps = self._stamps(key, window.period, now)
            count = max(1, math.floor(window.count * share + 1e-9))
            if len(stamps) >= count:
                wait = max(wait, stamps[len(stamps) - count] + window.period - now)
        if wait > 0:
            return Verdict(wait)
        for key, window in zip(keys, windows):
            self._logs.setdefault(key, (window.period, deque()))[1].append(now)
        if len(self._logs) >= self._sweep_at:
            self._sweep(now)
        return GRANTED

    def _stamps(self, key: str, period: float, now: float) -> deque[float]:
        _, stamps = self._logs.get(key, (period, deque()))
        while stamps and stamps[0] + period <= now:
            stamps.popleft()
        return stamps

    def _sweep(self, now: float) -> None:
        for key in [key for key, (period, stamps) in self._logs.items() if not self._stamps(key, period, now)]:
            del self._logs[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._logs))
