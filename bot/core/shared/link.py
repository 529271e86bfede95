"""The one Redis connection of a process, and whether Redis is reachable.

Every shared component runs its Redis calls through :meth:`RedisLink.call`. A call that finds Redis
unreachable marks the link down and raises :class:`RedisUnavailable`; while the link is down calls fail at once
(no connect timeout per request) and each component uses its in-process stand-in. A keeper task beats every
``beat`` seconds while Redis is up, which also counts the processes sharing the app's budgets, and probes every
``probe`` seconds while it is down: the first probe that answers brings the link back. Going down logs one
warning and coming back one info line, and each change is handed to ``on_change`` (the health file).

The share a process falls back to is ``fallback_share`` when set (``COURSEBOT_REDIS_FALLBACK_SHARE``), else
1 / the number of processes that were beating when Redis was last reachable, so N replicas together stay
within each budget without a setting to keep in step with N (``ASSUMED_PEERS`` before Redis was ever reached).

Keys are ``coursebot:{<app>}:<name>``: ``app`` names the bot (a hash of its token, never the token), and the
braces keep every key of one app in one Redis Cluster slot, as multi-key scripts need.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

T = TypeVar("T")

ASSUMED_PEERS = 4  # before Redis was ever reached: the compose file's 3 replicas, plus one of a rolling deploy
BEAT = 5.0  # seconds between heartbeats while Redis is up
PROBE = 1.0  # seconds between reconnection attempts while it is down
PEER_TTL = 3 * BEAT  # a process not heard from for this long no longer counts as a peer

# Each process keeps its name, with Redis time, in one sorted set; a name silent for PEER_TTL drops out.
_BEAT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


class RedisUnavailable(Exception):
    """Redis cannot be reached now: use the in-process stand-in."""


@dataclass(frozen=True)
class LinkState:
    """What ``coursebot health`` shows: shared (``up``) or falling back, since when, and at what share."""

    up: bool
    since: float  # wall-clock time of the last change
    share: float  # of each budget, used while down
    reason: str = ""  # why Redis is unreachable

    def describe(self) -> str:
        if self.up:
            return "Redis reachable: budgets, answer slots and Stop are shared"
        return (
            f"Redis unreachable ({self.reason}): this process keeps {self.share:.0%} of each rate budget and "
            "of the answer slots to itself, and a Stop reaches only this process"
        )


def app_id(platform: str, token: str) -> str:
    """A stable, non-secret name for an app's keys: the platform and a hash of its token."""
    return f"{platform}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


def where(url: str) -> str:
    """Host and port (or socket path) of a Redis URL, for logs: never its password."""
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class RedisLink:
    """One process's connection to Redis for one app. ``await start()`` once, ``await close()`` at shutdown."""

    def __init__(
        self, url: str, *, app: str, fallback_share: float | None = None,
        on_change: Callable[[LinkState], None] | None = None, beat: float = BEAT, probe: float = PROBE,
    ) -> None:
        # Imported here: a bot without COURSEBOT_REDIS_URL never loads the Redis client.
        from redis import exceptions
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if fallback_share is not None and not 0 < fallback_share <= 1:
            raise ValueError(f"the fallback share must be above 0 and at most 1, got {fallback_share}")
        # One quick retry covers a pooled connection that a Redis restart closed; no more, so an outage is
        # noticed in about a second instead of redis-py's default ten tries.
        self.client: Redis = Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=1.0, socket_timeout=2.0,
            retry=Retry(NoBackoff(), 1), health_check_interval=30,
        )
        self.where = where(url)
        self.prefix = f"coursebot:{{{app}}}:"
        self.member = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.fallback_share = fallback_share
        self.peers = 0  # processes beating at the last beat; 0 before Redis was ever reached
        self.beat, self.probe = beat, probe
        self._on_change = on_change
        self._unreachable: tuple[type[BaseException], ...] = (
            exceptions.ConnectionError, exceptions.TimeoutError, OSError,
        )
        self._beat = self.client.register_script(_BEAT)
        self._up = asyncio.Event()
        self._down = asyncio.Event()  # wakes the keeper to probe as soon as a call finds Redis gone
        self._reached = False  # whether Redis has answered or failed once: the first contact is not a change
        self._state = LinkState(up=False, since=time.time(), share=self.share, reason="not connected yet")
        self._keeper: asyncio.Task[None] | None = None

    # -- what the components use ----------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def script(self, source: str) -> AsyncScript:
        return self.client.register_script(source)

    @property
    def up(self) -> bool:
        return self._up.is_set()

    @property
    def share(self) -> float:
        """The share of each budget this process keeps to itself while Redis is down."""
        return self.fallback_share or 1 / (self.peers or ASSUMED_PEERS)

    def state(self) -> LinkState:
        return self._state

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation; ``RedisUnavailable`` (at once while down) when Redis cannot be reached."""
        if not self.up:
            raise RedisUnavailable(self._state.reason)
        try:
            return await operation()
        except self._unreachable as exc:
            self.lost(exc)
            raise RedisUnavailable(self._state.reason) from exc

    async def until_up(self) -> None:
        await self._up.wait()

    def lost(self, exc: BaseException) -> None:
        """Mark Redis unreachable (one warning per outage); the keeper probes until it answers again."""
        if self.up or not self._reached:
            self._up.clear()
            self._down.set()
            self._reached = True
            reason = f"{type(exc).__name__} at {self.where}"
            self._change(LinkState(up=False, since=time.time(), share=self.share, reason=reason))
            log.warning("%s", self._state.describe())

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """First contact (a failure only means starting in fallback), then the keeper runs until ``close``."""
        await self._keep_once()
        self._keeper = asyncio.create_task(self._keep(), name="redis-keeper")

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self.up:
            try:  # leave at once, so the others' fallback share counts one process fewer
                await self.client.zrem(self.key("peers"), self.member)
            except self._unreachable:
                pass
        await self.client.aclose()

    async def _keep(self) -> None:
        while True:
            if self.up:  # beat, unless a call finds Redis gone first
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._down.wait(), self.beat)
            if not self.up:
                await asyncio.sleep(self.probe)
            await self._keep_once()

    async def _keep_once(self) -> None:
        try:
            peers = await self._beat(keys=[self.key("peers")], args=[self.member, int(PEER_TTL * 1000)])
        except self._unreachable as exc:
            self.lost(exc)
            return
        self.peers = int(peers)
        if not self.up:
            returned, self._reached = self._reached, True
            self._up.set()
            self._down.clear()
            self._change(LinkState(up=True, since=time.time(), share=self.share))
            if returned:
                log.info("Redis at %s reachable again: budgets, answer slots and Stop are shared", self.where)

    def _change(self, state: LinkState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
