"""``Lanes``: a connection pool's seats handed out with the writes a learner is waiting on first.

asyncpg's pool serves its waiters in arrival order. When a class asks at once, each lab admission runs
several queries, and a quiz click that arrives in that second (its acknowledgement carries the stored
answer, so the learner waits on the write) would queue behind all of them. Every use of the pool passes
through a lane first: a free seat goes to the urgent lane before the ordinary one, arrival order within a
lane, and a few seats are kept for the urgent lane alone. There are as many seats as the pool has
connections, so a caller that holds a seat never waits in the pool itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Lanes:
    """``seats`` seats, of which ``reserve`` only the urgent lane may take (so an urgent caller rarely waits)."""

    def __init__(self, seats: int, *, reserve: int = 0) -> None:
        self._free = seats
        self._reserve = min(reserve, seats - 1)
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def seat(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold one seat for the body of the ``async with``."""
        ahead = not self._urgent if urgent else not (self._urgent or self._ordinary)
        if ahead and self._room(urgent):
            self._free -= 1
        else:
            granted = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._ordinary).append(granted)
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

    def _room(self, urgent: bool) -> bool:
        return self._free > (0 if urgent else self._reserve)

    def _release(self) -> None:
        self._free += 1
        for urgent, queue in ((True, self._urgent), (False, self._ordinary)):
            while queue and self._room(urgent):
                granted = queue.popleft()
                if not granted.done():
                    self._free -= 1
                    granted.set_result(None)
