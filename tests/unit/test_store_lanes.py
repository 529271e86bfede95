"""``Lanes``: seats go to the urgent lane first, in arrival order within a lane, and a cancelled waiter loses none."""

from __future__ import annotations

import asyncio

from bot.core.store.lanes import Lanes


async def _hold(lanes: Lanes, name: str, order: list[str], release: asyncio.Event, *, urgent: bool = False) -> None:
    async with lanes.seat(urgent=urgent):
        order.append(name)
        await release.wait()


async def test_a_freed_seat_goes_to_the_urgent_lane_first() -> None:
    lanes, order, release = Lanes(2), [], asyncio.Event()
    holders = [asyncio.create_task(_hold(lanes, f"held{n}", order, release)) for n in range(2)]
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(_hold(lanes, name, order, release, urgent=name.startswith("urgent")))
               for name in ("ordinary1", "ordinary2", "urgent1", "urgent2")]
    await asyncio.sleep(0)
    assert order == ["held0", "held1"]  # both seats taken: everyone else waits
    release.set()
    await asyncio.gather(*holders, *waiters)
    assert order == ["held0", "held1", "urgent1", "urgent2", "ordinary1", "ordinary2"]


async def test_a_cancelled_waiter_passes_its_seat_on() -> None:
    lanes, order, release = Lanes(1), [], asyncio.Event()
    holder = asyncio.create_task(_hold(lanes, "held", order, release))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(_hold(lanes, "cancelled", order, release, urgent=True))
    after = asyncio.create_task(_hold(lanes, "after", order, release))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # the holder leaves and grants the urgent waiter its seat ...
    cancelled.cancel()  # ... which is cancelled before it runs
    async with asyncio.timeout(1):  # the seat was handed on, not lost
        await asyncio.gather(holder, after)
        async with lanes.seat():
            pass
    assert order == ["held", "after"]


async def test_the_reserve_is_for_the_urgent_lane_only() -> None:
    lanes, order, release = Lanes(3, reserve=1), [], asyncio.Event()
    ordinary = [asyncio.create_task(_hold(lanes, f"ordinary{n}", order, release)) for n in range(3)]
    await asyncio.sleep(0)
    assert order == ["ordinary0", "ordinary1"]  # the third seat is kept ...
    urgent = asyncio.create_task(_hold(lanes, "urgent", order, release, urgent=True))
    await asyncio.sleep(0)
    assert order == ["ordinary0", "ordinary1", "urgent"]  # ... for an urgent caller, who takes it at once
    release.set()
    await asyncio.gather(*ordinary, urgent)
    assert order[-1] == "ordinary2"
