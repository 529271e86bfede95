"""Shared rate budgets on a real Redis: several clients and processes together, the fallback and the return."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from bot.core.shared.budget import SharedBudget, SharedWindow
from bot.core.shared.link import RedisLink, app_id
from bot.core.streaming.pacing import Pacer, Priority, RateLimits
from tests.redis_server import RedisServer

TOKEN = "xoxb-not-a-real-token-but-secret-all-the-same"
APP = app_id("slack", TOKEN)


@pytest.fixture
async def links(redis_url: str) -> AsyncIterator[Callable[..., RedisLink]]:
    """Started links to the test's Redis (each its own connection, as another process would have)."""
    made: list[RedisLink] = []

    async def make(**options: object) -> RedisLink:
        link = RedisLink(redis_url, app=APP, **options)  # type: ignore[arg-type]
        await link.start()
        made.append(link)
        return link

    yield make
    for link in made:
        await link.close()


async def _raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


async def test_two_clients_together_never_take_more_than_the_window(links, redis_url: str) -> None:
    first, second = SharedBudget(await links()), SharedBudget(await links())
    window = [SharedWindow("chat.update:T1", 5, 60.0)]
    verdicts = await asyncio.gather(*(budget.acquire(window) for budget in [first, second] * 20))
    assert sum(verdict.granted for verdict in verdicts) == 5
    assert all(0 < verdict.retry_after <= 60 for verdict in verdicts if not verdict.granted)


async def test_an_acquire_takes_every_window_or_none(links, redis_url: str) -> None:
    budget = SharedBudget(await links())
    other = SharedBudget(await links())
    global_ = SharedWindow("global", 5, 60.0)
    routes = [SharedWindow(f"edit:{channel}", 3, 60.0) for channel in ("c1", "c2")]
    attempts = [budget.acquire([global_, routes[i % 2]]) for i in range(10)]
    attempts += [other.acquire([global_, routes[i % 2]]) for i in range(10)]
    granted = sum(verdict.granted for verdict in await asyncio.gather(*attempts))
    raw = await _raw(redis_url)
    try:
        stamps = {name: await raw.zcard(budget.link.key("budget", name)) for name in ("global", "edit:c1", "edit:c2")}
    finally:
        await raw.aclose()
    assert granted == 5
    # A request refused by one window left no stamp in the other: the route logs add up to the global one.
    assert stamps["global"] == stamps["edit:c1"] + stamps["edit:c2"] == 5
    assert max(stamps["edit:c1"], stamps["edit:c2"]) <= 3


async def test_a_slot_frees_when_its_grant_leaves_the_window(links) -> None:
    budget = SharedBudget(await links())
    window = [SharedWindow("route", 2, 0.3)]
    assert (await budget.acquire(window)).granted
    assert (await budget.acquire(window)).granted
    refused = await budget.acquire(window)
    assert 0 < refused.retry_after <= 0.3
    await asyncio.sleep(refused.retry_after)
    assert (await budget.acquire(window)).granted


async def test_keys_name_the_app_by_a_hash_and_expire_when_idle(links, redis_url: str) -> None:
    budget = SharedBudget(await links()).scoped("stream")
    await budget.acquire([SharedWindow("edit:C1", 5, 30.0)])
    raw = await _raw(redis_url)
    try:
        keys = [key async for key in raw.scan_iter("*") if "peers" not in key]
        ttls = [await raw.pttl(key) for key in keys]
    finally:
        await raw.aclose()
    assert keys == [f"coursebot:{{{APP}}}:budget:stream:edit:C1"]
    assert TOKEN not in keys[0] and APP.startswith("slack:")
    assert all(0 < ttl <= 30_000 for ttl in ttls)


_WORKER = """
import asyncio, sys
from bot.core.shared.budget import SharedBudget, SharedWindow
from bot.core.shared.link import RedisLink

async def main(url, app):
    link = RedisLink(url, app=app)
    await link.start()
    budget = SharedBudget(link)
    window = [SharedWindow("global", 12, 60.0)]
    granted = sum([(await budget.acquire(window)).granted for _ in range(30)])
    await link.close()
    print(granted)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_processes_share_one_window(redis_url: str) -> None:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, redis_url, APP, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [await worker.communicate() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    assert sum(int(stdout) for stdout, _ in outputs) == 12


async def test_without_redis_a_process_keeps_its_share_and_returns_when_redis_is_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    states = []
    link = RedisLink(own_redis.url, app=APP, fallback_share=0.5, probe=0.05, on_change=states.append)
    await link.start()
    budget = SharedBudget(link)
    window = [SharedWindow("chat.update:T1", 4, 60.0)]
    try:
        assert (await budget.acquire(window)).granted
        assert link.state().up
        caplog.set_level(logging.INFO, logger="bot.core.shared.link")

        own_redis.kill()
        verdicts = [await budget.acquire(window) for _ in range(5)]
        assert [verdict.granted for verdict in verdicts] == [True, True, False, False, False]  # half of 4
        assert not link.state().up and "unreachable" in link.state().describe()
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and "50%" in warnings[0].getMessage()
        assert "127.0.0.1" in warnings[0].getMessage()

        own_redis.start()
        await asyncio.wait_for(link.until_up(), timeout=10)
        assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.INFO]
        assert (await budget.acquire(window)).granted  # the new, empty server: shared again
        raw = await _raw(own_redis.url)
        try:
            assert await raw.zcard(link.key("budget", "chat.update:T1")) == 1
        finally:
            await raw.aclose()
        assert [state.up for state in states] == [True, False, True]
    finally:
        await link.close()


async def test_without_redis_at_start_the_process_falls_back_then_joins(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.kill()
    caplog.set_level(logging.INFO, logger="bot.core.shared.link")
    link = RedisLink(own_redis.url, app=APP, probe=0.05)
    await link.start()
    try:
        budget = SharedBudget(link)
        # Never reached: the share assumes four processes, so 1 of these 4 slots.
        verdicts = [await budget.acquire([SharedWindow("global", 4, 60.0)]) for _ in range(2)]
        assert [verdict.granted for verdict in verdicts] == [True, False]
        own_redis.start()
        await asyncio.wait_for(link.until_up(), timeout=10)
        assert link.peers == 1 and link.share == 1.0
        assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.INFO]
    finally:
        await link.close()


async def test_the_fallback_share_follows_the_processes_last_seen(links) -> None:
    first = await links()
    await links()
    third = await links()
    await first._keep_once()  # a beat counts the others
    assert first.peers == 3 and first.share == pytest.approx(1 / 3)
    await third.close()
    await first._keep_once()
    assert first.peers == 2


@pytest.mark.parametrize("spare", [0, 2])
async def test_pacers_of_two_processes_share_the_global_budget(links, spare: int) -> None:
    limits = RateLimits(per_bucket=None, global_=(10, 60.0), margin=0, shared_spare=spare)
    pacers = [Pacer(limits, shared=SharedBudget(await links()).scoped("discord")) for _ in range(2)]
    # Each pacer alone would grant its 10 first texts at once; together they find 10 in all, less the spare the
    # shared window keeps for requests bunched on the way.
    share = 10 - spare
    granted = [asyncio.create_task(pacer.acquire(f"b{i}", priority=Priority.FIRST)) for pacer in pacers
               for i in range(10)]
    done: set[asyncio.Task[None]] = set()
    while len(done) < share:
        finished, _ = await asyncio.wait(set(granted) - done, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert finished, f"the shared budget granted fewer than its {share} slots"
        done |= finished
    await asyncio.sleep(0.2)  # room for a wrong extra grant to show
    assert sum(task.done() for task in granted) == share
    for task in granted:
        task.cancel()
    await asyncio.gather(*granted, return_exceptions=True)


def test_bad_windows_and_shares_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 request"):
        SharedWindow("global", 0, 1.0)
    with pytest.raises(ValueError, match="positive period"):
        SharedWindow("global", 5, 0)
    with pytest.raises(ValueError, match="fallback share"):
        RedisLink("redis://127.0.0.1:1/0", app=APP, fallback_share=1.5)


async def test_a_route_another_process_spent_gives_way_to_the_next(links) -> None:
    limits = RateLimits(per_bucket=(10, 60.0), global_=None, per_kind={"post": (2, 2.0)}, margin=0)
    mine = Pacer(limits, shared=SharedBudget(await links()).scoped("slack"))
    other = Pacer(limits, shared=SharedBudget(await links()).scoped("slack"))
    routes = [("T1", "post"), ("C1", "edit")]  # a stream start, else a plain post
    assert [await other.acquire_first(routes, priority=Priority.FIRST) for _ in range(2)] == [0, 0]
    # This process has not started a stream yet, but the app has spent its two: the plain post, not a wait for
    # the stream window to turn over (2 s here).
    assert await mine.acquire_first(routes, priority=Priority.FIRST) == 1
