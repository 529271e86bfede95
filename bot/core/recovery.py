"""Crash recovery: answers left streaming by a process that is gone are repaired and recorded, never re-asked.

A claim still 'streaming' past its lease (``bot.core.labs.LEASE_SECONDS``) belongs to a process that died
(SIGKILL, a crash, a lost host). Every live process sweeps for such claims at start-up and every few seconds;
one of them takes each over (``Store.take_over_claim`` is atomic), asks the adapter of the claim's platform
to repair the message (the text it showed at its last checkpoint, no cursor, no Stop button, a notice), and
records the turn as interrupted with the text received so far. A repair that fails (the platform is down) is
tried again when the take-over lease ends, for up to an hour after the question. The question is not sent to the API again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.core import messages
from bot.core.store.base import AnswerClaim, LabThread, LabTurn, Store

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3.0
TAKE_OVER_LEASE = 30.0  # the repair's own lease: a reconciler that dies mid-repair is retried by another
GIVE_UP_AFTER = timedelta(hours=1)  # a repair still failing this long after the question (a deleted thread) stops

Repair = Callable[[LabThread, Sequence[str], str], Awaitable[None]]
"""Edit an answer's messages (ids in order) so the last one shows ``text``, without cursor or Stop button."""


def repaired_text(claim: AnswerClaim) -> str:
    """What the cut answer's last message shows after the repair: its last checkpoint and the notice."""
    shown = claim.shown.strip() if claim.answer else ""
    return f"{shown}\n\n{messages.INTERRUPTED}" if shown else messages.INTERRUPTED


class Reconciler:
    """Sweeps for dead processes' answers on the platforms this process serves (``register``)."""

    def __init__(
        self, store: Store, owner: str, *, take_over_lease: float = TAKE_OVER_LEASE,
        give_up_after: timedelta = GIVE_UP_AFTER,
    ) -> None:
        self._store = store
        self._owner = owner
        self._take_over_lease = take_over_lease
        self._give_up_after = give_up_after
        self._repairs: dict[str, Repair] = {}
        self._task: asyncio.Task[None] | None = None

    def register(self, platform: str, repair: Repair) -> None:
        """Serve ``platform``'s cut answers with ``repair``; starts the sweeps on first use."""
        self._repairs[platform] = repair
        if self._task is None:
            self._task = asyncio.create_task(self._sweeps(), name="answer-recovery")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sweeps(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.warning("answer recovery sweep failed; trying again", exc_info=True)
            await asyncio.sleep(SWEEP_SECONDS)

    async def sweep(self) -> int:
        """Repair and record every expired claim this process can serve; return how many."""
        repaired = 0
        for claim in await self._store.expired_claims():
            thread = await self._store.lab_thread_by_id(claim.thread_id)
            repair = self._repairs.get(thread.platform) if thread is not None else None
            if thread is None or repair is None:
                continue
            if not await self._store.take_over_claim(claim.id, owner=self._owner, lease=self._take_over_lease):
                continue  # another process took it
            try:
                await repair(thread, claim.message_ids, repaired_text(claim))
            except Exception:
                if datetime.now(UTC) - claim.created_at < self._give_up_after:  # tried again when the lease ends
                    log.warning("could not repair the cut answer %s in %s; trying again in %.0f s", claim.id,
                                thread.thread_key, self._take_over_lease, exc_info=True)
                    continue
                log.warning("could not repair the cut answer %s in %s; recording it without the repair", claim.id,
                            thread.thread_key, exc_info=True)
            turn = LabTurn(
                question=claim.question, answer=claim.answer, status="interrupted",
                error="interrupted: the process answering it stopped",
            )
            await self._store.finish_claim(claim.id, turn)
            log.info("recovered a lab answer cut by a stopped process (claim %s, %s)", claim.id, thread.thread_key)
            repaired += 1
        return repaired
