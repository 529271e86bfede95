""""Edit this message with the latest count, at most every so often", for any platform.

Quiz messages show how many learners answered. A class answering at once must not cost one edit per click:
per message, one update runs at a time and at most one per ``interval``; every request that arrives while one
runs or waits merges into the next update, which reads the count afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from bot.core.tasks import spawn

log = logging.getLogger(__name__)

Update = Callable[[], Awaitable[None]]


class Coalescer:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._dirty: set[Hashable] = set()
        self._running: dict[Hashable, asyncio.Task[None]] = {}

    def request(self, key: Hashable, update: Update) -> None:
        """Ask for ``update`` of ``key``'s message; merged with any request not yet carried out."""
        self._dirty.add(key)
        if key not in self._running:
            self._running[key] = spawn(self._run(key, update), name=f"coalesced-update:{key}")

    async def _run(self, key: Hashable, update: Update) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                try:
                    await update()
                except Exception:  # a failed count update is cosmetic: the next request tries again
                    log.warning("could not update the count of message %s", key, exc_info=True)
                await asyncio.sleep(self.interval)
        finally:
            del self._running[key]

    def close(self) -> None:
        """Cancel the pending updates (shutdown)."""
        for task in list(self._running.values()):
            task.cancel()
