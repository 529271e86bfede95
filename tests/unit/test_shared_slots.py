"""Answer slots across processes on a real Redis: limits, fair turns, a dead holder's lease, the fallback."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.core.shared.link import RedisLink
from bot.core.shared.slots import SharedSlots
from tests.redis_server import RedisServer

APP = "discord:feedfacecafebeef"


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[SharedSlots]]]:
    """SharedSlots with links of their own, as separate processes have."""
    made: list[tuple[RedisLink, SharedSlots]] = []

    async def make(url: str = redis_url, *, share: float | None = None, **limits: object) -> SharedSlots:
        link = RedisLink(url, app=APP, fallback_share=share)
        await link.start()
        slots = SharedSlots(link, **limits)  # type: ignore[arg-type]
        made.append((link, slots))
        return slots

    yield make
    for link, slots in made:
        await slots.close()
        await link.close()


async def _waiting(acquire: Awaitable[None]) -> asyncio.Task[None]:
    """Start an acquire that must wait; fails the test if it is granted within a few polls."""
    task = asyncio.ensure_future(acquire)
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert not done, "granted a slot beyond the limits"
    return task


async def test_limits_hold_across_processes(processes) -> None:
    one, two = await processes(per_learner=1, total=2), await processes(per_learner=1, total=2)
    told: list[bool] = []
    await one.acquire(1)
    own = await _waiting(two.acquire(1, on_wait=told.append))  # learner 1's second answer: on the other process
    await two.acquire(2)
    class_wide = await _waiting(one.acquire(3, on_wait=told.append))
    assert told == [True, False]

    one.release(1)
    await asyncio.wait_for(own, timeout=10)  # learner 1 waited first, and is below their cap again
    assert not class_wide.done()
    two.release(2)
    await asyncio.wait_for(class_wide, timeout=10)


async def test_a_learner_with_many_answers_takes_turns_with_the_others(processes) -> None:
    one, two = await processes(per_learner=5, total=1), await processes(per_learner=5, total=1)
    await one.acquire("ada")
    order: list[str] = []

    async def answer(slots: SharedSlots, learner: str, name: str) -> None:
        await slots.acquire(learner)
        order.append(name)
        await asyncio.sleep(0.05)
        slots.release(learner)

    queued = [asyncio.create_task(answer(one, "ada", f"ada{n}")) for n in (2, 3, 4)]
    await asyncio.sleep(0.3)  # ada's answers are in line before bob asks, on another process
    queued.append(asyncio.create_task(answer(two, "bob", "bob1")))
    await asyncio.sleep(0.3)
    one.release("ada")
    await asyncio.wait_for(asyncio.gather(*queued), timeout=20)
    # bob's first answer goes right after one of ada's (hers queued together, in whichever order they reached Redis)
    assert order[1] == "bob1" and sorted(order[:1] + order[2:]) == ["ada2", "ada3", "ada4"]


async def test_a_freed_slot_goes_to_the_learner_with_the_fewest_answers_streaming(processes) -> None:
    """A flood's queued question waits behind another learner's first, even when it queued earlier."""
    one, two = await processes(per_learner=3, total=2), await processes(per_learner=3, total=2)
    await one.acquire("ada")
    await two.acquire("bob")
    flood = await _waiting(one.acquire("ada"))  # ada's second answer, first in line
    first = await _waiting(two.acquire("cyd"))  # cyd's first answer, on the other process
    two.release("bob")
    await asyncio.wait_for(first, timeout=10)
    assert not flood.done()
    one.release("ada")
    await asyncio.wait_for(flood, timeout=10)


async def test_a_cancelled_wait_gives_up_its_place(processes) -> None:
    one, two = await processes(per_learner=1, total=1), await processes(per_learner=1, total=1)
    await one.acquire("a")
    gave_up = await _waiting(two.acquire("b"))
    after = await _waiting(two.acquire("c"))
    gave_up.cancel()
    one.release("a")
    await asyncio.wait_for(after, timeout=10)


_HOLDER = """
import asyncio, sys
from bot.core.shared.link import RedisLink
from bot.core.shared.slots import SharedSlots

async def main(url, app):
    link = RedisLink(url, app=app)
    await link.start()
    await SharedSlots(link, per_learner=1, total=1, lease=1.0).acquire("ada")
    print("holding", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_dead_processs_slot_expires_with_its_lease(processes, redis_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, redis_url, APP, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), timeout=30) == b"holding\n"
    survivor = await processes(per_learner=1, total=1)
    waiting = await _waiting(survivor.acquire("bob"))  # the holder is alive and renews its lease
    await asyncio.sleep(1.0)  # longer than the lease: only its renewals keep the slot
    assert not waiting.done()
    holder.send_signal(signal.SIGKILL)
    await holder.wait()
    await asyncio.wait_for(waiting, timeout=10)


async def test_without_redis_slots_come_from_this_processs_share(own_redis: RedisServer, processes) -> None:
    slots = await processes(own_redis.url, share=0.5, per_learner=2, total=4)
    await slots.acquire("ada")  # shared
    own_redis.kill()  # from now on: two of the four slots here
    await slots.acquire("bob")
    await slots.acquire("cy")
    told: list[bool] = []
    third = await _waiting(slots.acquire("dee", on_wait=told.append))
    assert told == [False]
    slots.release("bob")
    await asyncio.wait_for(third, timeout=10)
    slots.release("ada")  # held in Redis, which is gone: its lease will end it


def test_slot_counts_must_be_positive() -> None:
    link = RedisLink("redis://127.0.0.1:1/0", app=APP)
    with pytest.raises(ValueError, match="at least 1"):
        SharedSlots(link, per_learner=0, total=5)
