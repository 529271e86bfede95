"""One scheduler per platform connection that hands out request slots to every streaming answer.

Each pacing key (``sink.bucket``) has a sliding-window log: never more than ``count`` requests in any
``period`` seconds, which is what Discord's per-route buckets and Slack's per-minute tiers promise. On top of
it, ordinary requests are spread evenly (at most one per ``period / count``) so an answer's edits arrive at a
steady rhythm instead of bursting the whole window and then going quiet; an answer's first, final and complete
texts (:class:`Priority`) may use the window's burst room and go to the front of the queue. A second window
counts every request of the connection (Discord's 50 requests/s per bot).

First texts and complete answers also have a tenth of the global window to themselves, so a new answer's first
words are not held up by other answers' edits. The tenth also keeps edits from running the window full, which
leaves room for requests that reach the platform bunched (with one slot reserved, 20 labs in the e2e test drew
global 429s under the test suite's load). Waiting requests are served by priority, then in arrival order.
The engine asks again only after its previous request finished, so arrival order is least-recently-served:
concurrent answers take turns. A request is counted from when its caller resumes (the moment it is sent),
and every period is padded by ``RateLimits.margin`` for the jitter on the way to the platform. An adapter that
sees its requests' responses reports them (``Pacer.responded``): the connection-wide window then counts each such
request for one unpadded period from its response, which no jitter on the way can beat (see there).

Nothing polls: one ``loop.call_at`` timer is armed for the earliest moment a waiting request can go.
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import heapq
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.core.shared.budget import SharedBudget, SharedWindow  # loads no Redis client: only a RedisLink does

RequestKind = Literal["post", "plain", "edit", "append", "stop", "global"]  # "global": no bucket of its own
Route = tuple[str, RequestKind]  # (bucket, kind): one way to send a request
Window = tuple[int, float]  # (requests, seconds)

_SWEEP_EVERY = 1024  # grants between sweeps of idle buckets
# An eager window spaces ordinary requests by its even spacing times fill**EAGER_EXPONENT (fill: the share of the
# window in use), but at least EAGER_HORIZON / count apart. A class that asks within a minute gets most of the
# minute's budget while its answers stream (about the first EAGER_HORIZON seconds) instead of a sixth of it; a
# load that lasts fills the window, and then the spacing is the even one. Each answer streaming in the window
# takes its turn no sooner than its share of that budget allows (``Pacer.fair_gap``), so the slots are spread
# over every answer's whole length instead of going to whichever answers asked first. Measured in
# bench/RESULTS.md: with 30 answers in one Slack workspace, mean staleness 2.5 s with even spacing, 0.72 s with
# a 7 s horizon and no turns, 0.685 s with these values and turns (safe only since every answer in flight keeps
# a slot for its final text: ``Pacer.hold_final``). A larger exponent spends the minute faster still (30 at
# once: 0.635 s with 14) but leaves too little for a class asking over 20 s (1.71 s instead of 1.39 s). The fill
# saves budget for answers that start later in the minute; when none can (``RateLimits.started_by``: the minute's
# stream starts are spent), the window is spent on the answers in it (30 at once: 0.609 s, 30 over 20 s: 1.37 s).
EAGER_EXPONENT = 6
EAGER_HORIZON = 5.0  # seconds: about a lab answer's length (250-1,000 tokens at 40-100 tokens/s)


@dataclass(frozen=True)
class RateLimits:
    """The limits a platform connection must respect.

    ``per_bucket`` applies to edits per ``sink.bucket``; ``per_kind`` gives other request kinds their own
    window per bucket (a kind not listed counts as an edit); ``global_`` counts every request.
    See ``DISCORD_LIMITS`` at the end of this module and ``bot/slack/pacing.py``.
    """

    per_bucket: Window | None = (5, 5.0)
    global_: Window | None = (50, 1.0)
    per_kind: Mapping[RequestKind, Window] = field(default_factory=dict)
    margin: float = 0.05  # seconds added to every period: requests reach the platform with some jitter
    # Kinds whose windows are spent eagerly (see ``EAGER_EXPONENT``): for long windows shared by many answers
    # (Slack's per-minute tiers). Windows one answer owns (a Discord thread's 5 per 5 s) stay evenly spaced: a
    # burst there would leave the rest of that answer without edits.
    eager: frozenset[RequestKind] = frozenset()
    # An eager window whose answers each start with a request of another kind under the same bucket (Slack: a
    # native stream's appends follow its chat.startStream). While that kind's window is full, no answer can join
    # the eager one, so it spends its budget on the answers in it instead of saving some for later ones.
    started_by: Mapping[RequestKind, RequestKind] = field(default_factory=dict)
    # Requests of the global window that a shared budget (kept in Redis by every process) leaves unused: it counts
    # requests from when they leave, as it cannot see their responses (``Pacer.responded``), so bunching on the
    # way needs room there.
    shared_spare: int = 0

    def __post_init__(self) -> None:
        for window in (self.per_bucket, self.global_, *self.per_kind.values()):
            if window is not None and (window[0] < 1 or window[1] <= 0):
                raise ValueError(f"a rate window needs at least 1 request over a positive period, got {window}")
        if self.margin < 0:
            raise ValueError("margin must not be negative")

    def padded(self, window: Window | None) -> Window | None:
        return None if window is None else (window[0], window[1] + self.margin)


class Priority(enum.IntEnum):
    """Which requests go first. Ties are served in arrival order.

    A complete answer goes before other answers' first texts: when the budget cannot keep up (hundreds of
    answers at once), an answer that finished before it was shown is posted whole, in one request, and
    finished answers are not held behind new ones. Among finished answers, those that show nothing yet go
    before the final texts of those already shown: their learners have seen nothing at all (500 Discord labs
    at once: first text p95 17 s before, 11 s after; bench/RESULTS.md, seventh pass). Below that load none of
    these wait for each other.
    """

    UNSHOWN = 0  # a finished answer that shows none of its text yet: all of it, in one request
    COMPLETE = 1  # what remains to show of a finished answer: its complete text
    FIRST = 2  # an answer's first text: what the learner is waiting for
    FINAL = 3  # the last text of a message the answer overflowed, and the bot's own replies outside answers
    ORDINARY = 4  # progress edits


class _SlidingWindow:
    """At most ``count`` grants in any ``period``; ordinary grants evenly spaced and kept out of ``reserve``.

    The reserve is room only first texts and complete answers (``Priority.FIRST`` and above) may use, so
    an answer's first text need not wait for a slot to expire while other answers keep the window full. Requests
    up to ``burst`` priority skip the spacing; in a window shared by many answers only first texts (and complete
    answers) should, or bursts of grants come back as bursts of expiries with long gaps between them.
    """

    __slots__ = (
        "blocked_until", "burst", "count", "eager", "held", "last", "ordinary", "period", "spacing", "stamps",
        "streams",
    )

    def __init__(
        self, window: Window | None, *, reserve: int = 0, burst: Priority = Priority.FINAL, eager: bool = False,
        spacing: float | None = None,
    ) -> None:
        self.count, self.period = window if window is not None else (0, 0.0)
        self.ordinary = max(1, self.count - reserve)
        self.spacing = spacing if spacing is not None else self.period / self.ordinary if self.count else 0.0
        self.burst = burst
        self.eager = eager
        self.stamps: deque[float] = deque(maxlen=self.count or 1)
        self.last = 0.0  # the latest grant: spacing counts from it, even once responses move stamps earlier
        self.blocked_until = 0.0
        self.held = 0  # slots kept for the complete texts of answers in flight (``Pacer.hold_final``)
        self.streams = 0  # answers whose progress counts in this window (``Pacer.join``)

    def free_at(self, priority: Priority, *, closed: bool = False) -> float:
        """The earliest time a request may be granted (compare with the loop clock). ``closed``: no answer can
        join an eager window now (``RateLimits.started_by``), so it need not save its budget for later ones."""
        if not self.count:
            return self.blocked_until
        when = self.blocked_until
        full = self.room(priority)
        if full <= 0:
            return math.inf  # every free slot is held for a final text: until one is released
        if len(self.stamps) >= full:
            when = max(when, self.stamps[len(self.stamps) - full] + self.period)
        if priority > self.burst and self.stamps:
            spacing = self.spacing
            if self.eager:
                fill = 0.0 if closed else self.in_window(self.last) / self.ordinary
                spacing = max(EAGER_HORIZON / self.ordinary, spacing * fill**EAGER_EXPONENT)
            when = max(when, self.last + spacing)
        return when

    def room(self, priority: Priority) -> int:
        """How many grants the window may hold and still take a request of ``priority``."""
        return self.count if priority <= Priority.FIRST else self.ordinary - self.held

    def in_window(self, now: float) -> int:
        return len(self.stamps) - bisect.bisect_right(self.stamps, now - self.period)

    def take(self, now: float) -> None:
        if self.count:
            self.stamps.append(now)
            self.last = now

    def restamp(self, granted: float, sent: float) -> None:
        """Move a grant's stamp to when the request really left (the caller resumed late under load)."""
        if self.settle(granted, sent):
            self.last = max(self.last, sent)

    def settle(self, stamp: float, to: float) -> bool:
        """Move a stamp (to when its response came back: ``Pacer.responded``); False if it has left the log."""
        if not self.count or stamp not in self.stamps:
            return False
        self.stamps.remove(stamp)
        bisect.insort(self.stamps, to)
        return True

    def block(self, until: float) -> None:
        self.blocked_until = max(self.blocked_until, until)

    def idle_since(self, now: float) -> bool:
        last = self.stamps[-1] if self.stamps else 0.0
        return not self.held and not self.streams and max(last + self.period, self.blocked_until) <= now


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[None]
    priority: Priority
    seq: int
    granted_at: float = 0.0

    @property
    def rank(self) -> tuple[int, int]:
        return (self.priority, self.seq)


class _Bucket:
    __slots__ = ("queues", "version", "window")

    def __init__(self, window: Window | None, *, eager: bool = False) -> None:
        self.window = _SlidingWindow(window, eager=eager)
        self.queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Priority)
        self.version = 0  # only the scheduler entry carrying the current version is live

    def head(self) -> _Waiter | None:
        """The next live waiter, dropping those whose caller gave up."""
        for queue in self.queues:
            while queue and queue[0].future.done():
                queue.popleft()
            if queue:
                return queue[0]
        return None

    def pop_head(self) -> None:
        next(queue for queue in self.queues if queue).popleft()


class Pacer:
    """Hands out request slots for one platform connection; share it between every stream of that connection."""

    def __init__(self, limits: RateLimits | None = None, *, shared: SharedBudget | None = None) -> None:
        self.limits = limits or RateLimits()
        self.shared = shared
        global_ = self.limits.padded(self.limits.global_)
        reserve = global_[0] // 10 if global_ else 0
        # Ordinary requests go at most at the platform's own even rate (Discord: one per 20 ms). Spaced over the
        # padded period and the ordinary share, they could never use the window's full rate once responses
        # settle it; unspaced, they took the slots the last first texts of a class needed (bench/RESULTS.md).
        even = self.limits.global_[1] / self.limits.global_[0] if self.limits.global_ else None
        self._global = _SlidingWindow(global_, reserve=reserve, burst=Priority.FIRST, spacing=even)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._ready: list[tuple[tuple[int, int], int, tuple[str, str]]] = []  # (rank of head, version, key)
        self._sleeping: list[tuple[float, int, tuple[str, str]]] = []  # (free at, version, key)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # When granted requests left, oldest first, until a response settles them (``responded``).
        self._unsettled: deque[float] = deque()
        self._seq = itertools.count()
        self._versions = itertools.count(1)
        self._grants = 0

    async def acquire(self, bucket: str, *, priority: Priority = Priority.ORDINARY, kind: RequestKind = "edit") -> None:
        """Wait for a slot to send one ``kind`` request under ``bucket``; higher priorities go first."""
        loop = asyncio.get_running_loop()
        key = self._key(bucket, kind)
        state = self._bucket(bucket, kind)
        waiter = _Waiter(loop.create_future(), priority, next(self._seq))
        previous = state.head()
        state.queues[priority].append(waiter)
        if previous is None or waiter.rank < previous.rank:
            self._schedule_head(key, state, self._now())
        self._dispatch()
        await waiter.future
        if self.shared is not None:
            await self._draw_shared(state, key, priority)
        # Count the request from when it leaves, not from the grant: a busy loop may resume us late,
        # and the platform sees the later time.
        sent = self._now()
        if sent > waiter.granted_at:
            if self._buckets.get(key) is state:
                state.window.restamp(waiter.granted_at, sent)
            self._global.restamp(waiter.granted_at, sent)
        self._in_flight(sent)

    def responded(self) -> None:
        """A request this pacer granted has its response back (or failed): from now on the connection-wide
        window counts it for one period from now, not for the padded period from when it left.

        The platform counts a request when it arrives, some time between when it left and its response. Every
        request still in flight counts here, and every answered one until a period after its response. So when
        the last of any ``count + 1`` requests arriving within one period was granted, the others had all been
        granted already and were still counted, which the grant did not allow. No bunching on the way can push
        the platform over its limit, and on a fast link the window is spent at nearly its full rate.

        Responses are matched to the oldest unsettled grants, not to their own: responses arrive out of order,
        but only how many requests are answered matters, and a grant never sent stays unsettled (counted as
        before, padded). A request whose response takes longer than the padded period is no longer counted by
        then; the margin and the first-text reserve cover it, as they do without responses."""
        now = self._now()
        self._forget_unsettled(now)
        if self._unsettled:
            self._global.settle(self._unsettled.popleft(), now - self.limits.margin)  # the periods carry it
            self._dispatch()  # a slot may free sooner than the armed timer expects

    def _in_flight(self, sent: float) -> None:
        """Note a request that left at ``sent`` and has no response yet (with a connection-wide window only)."""
        if self._global.count:
            self._forget_unsettled(sent)
            self._unsettled.append(sent)

    def _forget_unsettled(self, now: float) -> None:
        """Drop the unsettled requests that have left the window by now: grants never sent, mostly."""
        while self._unsettled and self._unsettled[0] <= now - self._global.period:
            self._unsettled.popleft()

    async def _draw_shared(self, state: _Bucket, key: tuple[str, str], priority: Priority) -> None:
        """With several processes (``shared``, kept in Redis): a request granted here must also find room in
        the app's budget, the same windows shared by every process; ordinary requests leave the first-text
        reserve free there too. Waiting here keeps this process's scheduling as it is: priorities and
        spacing are decided locally, the shared budget only holds a granted request back until it has room."""
        await self.shared.wait(self._shared_windows(state, key, priority))

    def _shared_windows(self, state: _Bucket, key: tuple[str, str], priority: Priority) -> list[SharedWindow]:
        windows = []
        for name, window, spare in ((f"{key[0]}:{key[1]}", state.window, 0),
                                    ("global", self._global, self.limits.shared_spare)):
            if window.count:
                # Granted here, so it had room; a slot held since then is this process's to keep free.
                windows.append(SharedWindow(name, max(1, window.room(priority) - spare), window.period))
        return windows

    async def acquire_first(self, routes: Sequence[Route], *, priority: Priority = Priority.ORDINARY) -> int:
        """Wait for a slot on whichever of ``routes`` (alternative ways to show the same text, cheapest first)
        has one first; return its index. A route free right now (with several processes: in the app's shared
        budget too) is taken without queueing, in the given order; otherwise the request waits on every route
        and the first grant wins (the others are withdrawn; in the rare case two are granted in the same
        instant, the spare slot goes unused)."""
        if len(routes) == 1:
            await self.acquire(routes[0][0], priority=priority, kind=routes[0][1])
            return 0
        for index, (bucket, kind) in enumerate(routes):
            if self._take_now(bucket, kind, priority) and await self._take_shared_now(bucket, kind, priority):
                return index
        waits = [asyncio.ensure_future(self.acquire(bucket, priority=priority, kind=kind)) for bucket, kind in routes]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                if not wait.done():
                    wait.cancel()
        return next(index for index, wait in enumerate(waits) if wait.done() and not wait.cancelled())

    async def _take_shared_now(self, bucket: str, kind: RequestKind, priority: Priority) -> bool:
        """With several processes, a route free here must have room in the app's budget now as well: when the
        other processes have spent it (a Slack workspace's 20 stream starts a minute), the next route is tried
        instead of waiting up to a whole window for this one (the local slot taken stays spent)."""
        if self.shared is None:
            return True
        windows = self._shared_windows(self._bucket(bucket, kind), self._key(bucket, kind), priority)
        return (await self.shared.acquire(windows)).granted

    def _take_now(self, bucket: str, kind: RequestKind, priority: Priority) -> bool:
        """Grant a request at once if nobody waits on its bucket and its windows have room now."""
        state = self._bucket(bucket, kind)
        now = self._now()
        closed = self._closed(self._key(bucket, kind), now)
        if (state.head() is not None or state.window.free_at(priority, closed=closed) > now
                or self._global.free_at(priority) > now):
            return False
        state.window.take(now)
        self._global.take(now)
        self._in_flight(now)
        return True

    async def acquire_global(self, *, priority: Priority = Priority.ORDINARY) -> None:
        """Wait for room under the connection-wide limit alone: a request with no paced route of its own
        (Discord: typing, thread creation, role grants) still counts against the global budget."""
        await self.acquire("", priority=priority, kind="global")

    def global_load(self) -> float:
        """How full the connection-wide window is: requests sent in its last period plus buckets waiting on it,
        as a share of its count (0.0 without a global limit). Lets an adapter skip requests the learner can do
        without (Discord's typing indicator) when answers need the budget."""
        window = self._global
        if not window.count:
            return 0.0
        since = self._now() - window.period
        recent = sum(1 for stamp in window.stamps if stamp > since)
        return (recent + len(self._ready)) / window.count

    def hold_final(self, bucket: str, *, kind: RequestKind = "edit") -> None:
        """An answer in flight will send its complete text as a ``kind`` request under ``bucket``: in an eager
        window (a per-minute tier shared by a class), keep a slot for it that progress edits may not take.
        Without it a class of 50 in one Slack workspace spent ``chat.update``'s minute on progress, and the
        answers' final texts waited most of a minute for it (``bench/RESULTS.md``). Undo with ``release_final``.
        """
        if (window := self._eager_window(bucket, kind)) is not None:
            window.held += 1

    def has_room_for_final(self, bucket: str, *, kind: RequestKind = "edit") -> bool:
        """Whether one more answer could keep a slot for its complete text (``hold_final``) in ``bucket``'s eager
        window: the window's requests of the last period and the slots already held leave one free. Always
        true of windows that are not eager."""
        window = self._eager_window(bucket, kind)
        return window is None or window.in_window(self._now()) + window.held < window.count

    def release_final(self, bucket: str, *, kind: RequestKind = "edit") -> None:
        if (window := self._eager_window(bucket, kind)) is not None:
            window.held = max(0, window.held - 1)
            key = self._key(bucket, kind)
            self._schedule_head(key, self._buckets[key], self._now())  # its head may sleep until a slot frees
            self._dispatch()

    def join(self, bucket: str, kind: RequestKind) -> None:
        """An answer's progress requests will go as ``kind`` under ``bucket`` until ``leave``: it shares that
        window's budget with the others there (``fair_gap``)."""
        if (window := self._eager_window(bucket, kind)) is not None:
            window.streams += 1

    def leave(self, bucket: str, kind: RequestKind) -> None:
        if (window := self._eager_window(bucket, kind)) is not None:
            window.streams = max(0, window.streams - 1)

    def fair_gap(self, bucket: str, kind: RequestKind) -> float:
        """The least time between two requests of one answer that ``join``-ed ``bucket``'s eager window: the
        horizon over its share of the slots not held for final texts, at most half the horizon (with more
        answers than slots, they take turns in the window's queue). 0 alone or in windows that are not eager.

        Without it, answers that had just posted took the window's first slots (30 labs in a Slack workspace:
        two appends within 0.6 s of the first text, then 1.4 s between the others) and 17 of the minute's 100
        appends were never used."""
        window = self._eager_window(bucket, kind)
        if window is None or window.streams < 2:
            return 0.0  # alone in the window, an answer takes no one's turn
        share = max(1, window.ordinary - window.held) / window.streams
        return min(EAGER_HORIZON / 2, EAGER_HORIZON / share)

    def _eager_window(self, bucket: str, kind: RequestKind) -> _SlidingWindow | None:
        """``bucket``'s window for ``kind`` when it is spent eagerly (the only windows that hold final slots)."""
        return self._bucket(bucket, kind).window if self._key(bucket, kind)[0] in self.limits.eager else None

    def penalize(self, bucket: str, retry_after: float, *, kind: RequestKind = "edit", is_global: bool = False) -> None:
        """Send nothing under ``bucket`` (or, ``is_global``, at all) for ``retry_after`` seconds: a 429 arrived."""
        until = self._now() + max(0.0, retry_after)
        if is_global:
            self._global.block(until)
        else:
            self._bucket(bucket, kind).window.block(until)
        self._dispatch()

    # -- scheduling -------------------------------------------------------------------------------------

    def _key(self, bucket: str, kind: RequestKind) -> tuple[str, str]:
        return (kind if kind == "global" or kind in self.limits.per_kind else "edit", bucket)

    def _window_for(self, kind: RequestKind) -> Window | None:
        if kind == "global":
            return None
        return self.limits.padded(self.limits.per_kind.get(kind, self.limits.per_bucket))

    def _bucket(self, bucket: str, kind: RequestKind) -> _Bucket:
        key = self._key(bucket, kind)
        state = self._buckets.get(key)
        if state is None:
            state = self._buckets[key] = _Bucket(self._window_for(kind), eager=key[0] in self.limits.eager)
        return state

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _schedule_head(self, key: tuple[str, str], state: _Bucket, now: float) -> None:
        """Give the bucket's head its one live entry: ready at ``now``, or asleep until its window frees.

        ``now`` is the dispatcher's one reading of the clock: judging with a fresher reading here could
        call a bucket ready that the dispatcher then finds not free, over and over.
        """
        state.version = next(self._versions)
        head = state.head()
        if head is None:
            return
        when = state.window.free_at(head.priority, closed=self._closed(key, now))
        if when <= now:
            heapq.heappush(self._ready, (head.rank, state.version, key))
        elif when < math.inf:  # else it waits for a final slot's release (``release_final``)
            heapq.heappush(self._sleeping, (when, state.version, key))

    def _closed(self, key: tuple[str, str], now: float) -> bool:
        """Whether no answer can join ``key``'s window now: the window its answers start in is full."""
        kind = self.limits.started_by.get(key[0])  # type: ignore[call-overload]
        if kind is None:
            return False
        starts = self._buckets.get(self._key(key[1], kind))
        return starts is not None and starts.window.in_window(now) >= starts.window.count

    def _live(self, version: int, key: tuple[str, str]) -> _Bucket | None:
        state = self._buckets.get(key)
        return state if state is not None and state.version == version else None

    def _dispatch(self) -> None:
        now = self._now()
        while self._sleeping and self._sleeping[0][0] <= now:
            _, version, key = heapq.heappop(self._sleeping)
            if (state := self._live(version, key)) is not None:
                self._schedule_head(key, state, now)
        wake_at: float | None = None
        while self._ready:
            rank, version, key = self._ready[0]
            state = self._live(version, key)
            if state is None:
                heapq.heappop(self._ready)  # superseded entry
                continue
            head = state.head()
            if head is None or head.rank != rank:  # the waiter it was queued for gave up
                heapq.heappop(self._ready)
                self._schedule_head(key, state, now)
                continue
            global_free = self._global.free_at(head.priority)
            if global_free > now:
                wake_at = global_free
                break
            heapq.heappop(self._ready)
            if state.window.free_at(head.priority, closed=self._closed(key, now)) > now:  # penalized since queued
                self._schedule_head(key, state, now)
                continue
            state.pop_head()
            head.granted_at = now
            state.window.take(now)
            self._global.take(now)
            head.future.set_result(None)
            self._schedule_head(key, state, now)
            self._grants += 1
            if self._grants % _SWEEP_EVERY == 0:
                self._sweep(now)
        if self._sleeping:
            wake_at = self._sleeping[0][0] if wake_at is None else min(wake_at, self._sleeping[0][0])
        self._arm(wake_at)

    def _arm(self, when: float | None) -> None:
        if self._timer is not None:
            if when is not None and self._timer_at <= when:
                return  # an earlier (or the same) wake-up is already armed; it re-arms as needed
            self._timer.cancel()
            self._timer = None
        if when is None:
            return
        self._timer_at = when
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _sweep(self, now: float) -> None:
        """Forget buckets nobody waits on whose windows have emptied, so long-running bots do not grow."""
        idle = [key for key, state in self._buckets.items() if state.head() is None and state.window.idle_since(now)]
        for key in idle:
            del self._buckets[key]


# Discord's documented default windows (its real buckets are per route, read by discord.py from the
# X-RateLimit-* headers, which then waits by itself). The Discord adapter runs this preset with its own margin
# and reports its responses (bot/discord_app.py ``PACING``); Slack's limits live with the Slack adapter
# (bot/slack/pacing.py ``STREAM_LIMITS``). The benchmark runs those production objects, not copies.
# Which Discord budget binds (250-token answers at 40 tokens/s asked within a second, bench/floors.py): each
# answer's thread allows it about 12 requests, the global 50/s about 410 for all together, so up to about 34
# answers the threads' own buckets bind and past that the global budget does (at 100 labs about 4 requests an
# answer, at 500 under 1: first posts and final edits queue behind each other).
DISCORD_LIMITS = RateLimits(per_bucket=(5, 5.0), global_=(50, 1.0), per_kind={"post": (5, 5.0)})
