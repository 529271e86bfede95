"""Answer slots that hold across processes: at most ``per_learner`` answers streaming per learner, ``total`` in all.

The same interface as :class:`bot.core.slots.AnswerSlots` (``acquire(learner, on_wait=...)``, ``release(learner)``)
plus ``close()``. The truth is in Redis: a sorted set of the slots held, each with a lease that its process renews
every third of ``lease``, so the slots of a process that died free themselves within ``lease`` seconds; and a
sorted set of the answers waiting, each with a short lease that its process renews on every poll.

Fairness across processes is the round-robin of one process: learners with a waiting answer stand in one line
in Redis (in the order they first had to wait); whenever a slot is free, the first learner in line below
``per_learner`` starts their earliest waiting answer and goes to the back of the line. So a learner who asks in
six labs at once waits for their own earlier answers but never delays another learner's first answer, whichever
processes the answers arrived at. One script decides
and takes the slot atomically. A waiting answer asks again every ``poll`` seconds, and at once when a slot of
this process is released; an answer whose turn it is starts within a poll.

While Redis is unreachable new slots come from an in-process ``AnswerSlots`` with the link's share of ``total``
(per-learner limits then hold per process only); slots already held in Redis are released there when it is back
or expire with their lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

from bot.core.shared.link import RedisLink, RedisUnavailable
from bot.core.slots import AnswerSlots

LEASE = 15.0  # seconds a held slot outlives its process
WAITER_LEASE = 2.0  # seconds a waiting answer keeps its place without asking again
POLL = 0.2  # seconds between a waiting answer's attempts

GRANTED, OWN_CAP = 0, 1  # _TRY's answers; anything else: the class is at its cap, or it is another answer's turn

# KEYS: held slots (member -> lease end), waiting answers (member -> arrival), waiting answers' leases, the
# line of learners (learner -> when they joined it or were last served). Members are "<learner>|<answer>".
# ARGV: this answer, per_learner, total, lease, waiter lease (microseconds).
_TRY = """
local held, waiting, leases, line = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local me, per_learner, total = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, waiter_lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function learner_of(member) return string.match(member, '^(.*)|') end

redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
  redis.call('ZREM', waiting, gone)
end
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
local mine = learner_of(me)
redis.call('ZADD', waiting, 'NX', now, me)
redis.call('ZADD', leases, now + waiter_lease, me)
redis.call('ZADD', line, 'NX', now, mine)
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, math.ceil(math.max(lease, waiter_lease) / 1000))
end

local running, all = {}, 0
for _, member in ipairs(redis.call('ZRANGE', held, 0, -1)) do
  local learner = learner_of(member)
  running[learner] = (running[learner] or 0) + 1
  all = all + 1
end
if (running[mine] or 0) >= per_learner then
  return 1
end
if all >= total then
  return 2
end

-- Each learner's earliest waiting answer; of the learners below their cap, the one with the fewest answers
-- streaming is served next, the first in line among equals (as bot/core/slots.py does in one process).
local first = {}
for _, member in ipairs(redis.call('ZRANGE', waiting, 0, -1)) do
  local learner = learner_of(member)
  first[learner] = first[learner] or member
end
local next_up, fewest = nil, nil
for _, learner in ipairs(redis.call('ZRANGE', line, 0, -1)) do
  local count = running[learner] or 0
  if first[learner] == nil then
    redis.call('ZREM', line, learner)
  elseif count < per_learner and (fewest == nil or count < fewest) then
    next_up, fewest = first[learner], count
  end
end
if next_up ~= me then
  return 3
end
redis.call('ZREM', waiting, me)
redis.call('ZREM', leases, me)
redis.call('ZADD', held, now + lease, me)
redis.call('ZADD', line, now, mine)
return 0
"""

# KEYS: held slots. ARGV: lease (microseconds), then this process's slots: each held for another lease.
_RENEW = """
local clock = redis.call('TIME')
local until_ = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], until_, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000))
"""


class SharedSlots:
    """Fair answer slots for every process of the app. One per process; ``await close()`` at shutdown."""

    def __init__(
        self, link: RedisLink, *, per_learner: int, total: int, lease: float = LEASE, poll: float = POLL,
    ) -> None:
        if per_learner < 1 or total < 1:
            raise ValueError("slot counts must be at least 1")
        self.per_learner, self.total = per_learner, total
        self._link = link
        self._keys = [link.key("slots", name) for name in ("held", "waiting", "leases", "line")]
        self._lease, self._poll = lease, poll
        self._try = link.script(_TRY)
        self._renew = link.script(_RENEW)
        self._ids = itertools.count()
        self._held: dict[Hashable, list[str | None]] = {}  # learner -> their slots here (None: a fallback slot)
        self._fallback: AnswerSlots | None = None
        self._released = asyncio.Event()  # replaced at each release; set wakes the answers waiting here
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def acquire(self, learner: Hashable, *, on_wait: Callable[[bool], None] | None = None) -> None:
        """Take a slot for ``learner``, waiting for one if needed (``on_wait`` as in ``AnswerSlots.acquire``).

        Cancelling the wait gives up the place in the queue (a slot granted meanwhile is given back).
        """
        member = f"{learner}|{self._link.member}:{next(self._ids)}"
        args = [member, self.per_learner, self.total, _micros(self._lease), _micros(WAITER_LEASE)]
        told = False
        try:
            while True:
                try:
                    answer = await self._link.call(lambda: self._try(keys=self._keys, args=args))
                except RedisUnavailable:
                    await self._acquire_here(learner, None if told else on_wait)
                    return
                if answer == GRANTED:
                    self._hold(learner, member)
                    return
                if on_wait is not None and not told:
                    on_wait(answer == OWN_CAP)
                told = True
                released = self._released
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(released.wait(), self._poll)
        except asyncio.CancelledError:
            self._spawn(self._forget(member))
            raise

    def release(self, learner: Hashable) -> None:
        """Give back a slot taken by ``acquire``."""
        held = self._held.get(learner)
        if not held:
            raise RuntimeError("release() without acquire()")
        member = held.pop()
        if not held:
            del self._held[learner]
        if member is None:
            assert self._fallback is not None
            self._fallback.release(learner)
        else:
            self._spawn(self._forget(member))

    async def close(self) -> None:
        """Stop renewing (slots still held expire with their lease) and finish pending releases."""
        if self._renewer is not None:
            self._renewer.cancel()
        await asyncio.gather(*self._tasks, *filter(None, [self._renewer]), return_exceptions=True)

    # -- internals ------------------------------------------------------------------------------------

    async def _acquire_here(self, learner: Hashable, on_wait: Callable[[bool], None] | None) -> None:
        """Redis is unreachable: a slot from this process's share."""
        if self._fallback is None:
            self._fallback = AnswerSlots(
                per_learner=self.per_learner, total=max(1, math.floor(self.total * self._link.share + 1e-9))
            )
        await self._fallback.acquire(learner, on_wait=on_wait)
        self._held.setdefault(learner, []).append(None)

    def _hold(self, learner: Hashable, member: str) -> None:
        self._held.setdefault(learner, []).append(member)
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._keep_leases(), name="slot-leases")

    async def _forget(self, member: str) -> None:
        """Take ``member`` out of Redis (held or waiting), then wake this process's waiting answers."""
        with contextlib.suppress(RedisUnavailable):  # unreachable: its lease ends it
            await self._link.call(lambda: self._zrem_all(member))
        self._released.set()
        self._released = asyncio.Event()

    async def _zrem_all(self, member: str) -> None:
        async with self._link.client.pipeline(transaction=True) as pipe:
            for key in self._keys[:3]:
                pipe.zrem(key, member)
            await pipe.execute()

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            with contextlib.suppress(RedisUnavailable):
                await self._link.call(self._renew_held)

    async def _renew_held(self) -> None:
        members = [member for held in self._held.values() for member in held if member is not None]
        if members:
            await self._renew(keys=self._keys[:1], args=[_micros(self._lease), *members])

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _micros(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)
