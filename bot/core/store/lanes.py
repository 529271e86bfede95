"""``Lanes``: a connection pool's seats handed out with the writes a learner is waiting on first.

asyncpg's pool serves its waiters in arrival order. When a class asks at once, each lab admission runs
several queries, and a quiz click that arrives in that second (its acknowledgement carries the stored
answer, so the learner waits on the write) would queue behind all of them. Every use of the pool passes
through a lane first: a free seat goes to the urgent lane before the ordinary one, arrival order within a
lane. There are as many seats as the pool has connections, so a caller that holds a seat never waits in
the pool itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Lanes:
    def __init__(self, seats: int) -> None:
        self._free = seats
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @asynccontextmanager
    async def seat(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold one seat for the body of the ``async with``."""
        if self._free > 0 and not any(self._waiting):
            self._free -= 1
        else:
            granted = asyncio.get_running_loop().create_future()
            self._waiting[0 if urgent else 1].append(granted)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release()  # the seat came with the cancellation: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                granted = queue.popleft()
                if not granted.done():
                    granted.set_result(None)
                    return
        self._free += 1
