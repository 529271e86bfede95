"""Fair answer slots: at most ``per_learner`` answers streaming per learner and ``total`` in all.

Waiting answers queue per learner; whenever a slot frees, it goes to the waiting learner with the fewest
answers streaming, and among equals to the one first in line, who then goes to the back (round-robin). So a
learner who asks in six labs at once waits for their own earlier answers but never delays another learner's
first answer: a learner with nothing streaming is served before the flood's queued questions.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable


class AnswerSlots:
    def __init__(self, *, per_learner: int, total: int) -> None:
        if per_learner < 1 or total < 1:
            raise ValueError("slot counts must be at least 1")
        self.per_learner = per_learner
        self.total = total
        self._running: dict[Hashable, int] = {}
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def running_for(self, learner: Hashable) -> int:
        return self._running.get(learner, 0)

    async def acquire(self, learner: Hashable, *, on_wait: Callable[[bool], None] | None = None) -> None:
        """Take a slot for ``learner``, waiting for one if needed.

        ``on_wait(own)`` is called once when the answer has to wait: ``own`` is True when it waits for the
        learner's own answers, False when the class as a whole is at the cap. Cancelling the wait gives up
        the place in the queue (a slot granted meanwhile is passed on).
        """
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(learner, deque()).append(granted)
        self._dispatch()
        if granted.done():  # a free slot, and nobody with a better claim to it
            return
        if on_wait is not None:
            on_wait(self.running_for(learner) >= self.per_learner)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(learner)  # granted just as we were cancelled: hand it on
            else:
                self._forget(learner, granted)
            raise

    def release(self, learner: Hashable) -> None:
        """Give back a slot taken by ``acquire``."""
        count = self._running.get(learner, 0) - 1
        if count < 0:
            raise RuntimeError("release() without acquire()")
        if count:
            self._running[learner] = count
        else:
            del self._running[learner]
        self._dispatch()

    def _take(self, learner: Hashable) -> None:
        self._running[learner] = self._running.get(learner, 0) + 1

    def _forget(self, learner: Hashable, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(learner)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[learner]

    def _dispatch(self) -> None:
        """Grant free slots to waiting answers: fewest streaming first, then line order; the served learner goes
        to the back of the line."""
        while self.running < self.total:
            eligible = [learner for learner in self._waiting if self.running_for(learner) < self.per_learner]
            if not eligible:
                return
            learner = min(eligible, key=self.running_for)  # min keeps the first in line among equals
            queue = self._waiting.pop(learner)
            granted = queue.popleft()
            if queue:
                self._waiting[learner] = queue  # back of the line
            if granted.done():  # cancelled while queued
                continue
            self._take(learner)
            granted.set_result(None)
