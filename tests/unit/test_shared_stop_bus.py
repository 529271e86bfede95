"""Stop signals across processes (a real Redis) and in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as redis

from bot.core.shared.link import RedisLink
from bot.core.shared.stop_bus import LocalStopBus, RedisStopBus
from tests.redis_server import RedisServer

APP = "discord:0123456789abcdef"


class Heard:
    """What one process's ``on_stop`` received, and a way to wait for it."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._changed = asyncio.Event()

    def __call__(self, answer_id: int) -> None:
        self.ids.append(answer_id)
        self._changed.set()

    async def until(self, count: int) -> list[int]:
        while len(self.ids) < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout=10)
        return self.ids


Process = tuple[RedisStopBus, Heard]


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[Process]]]:
    """Stop buses with links of their own (as separate processes have), started with a recorder each."""
    made: list[tuple[RedisLink, RedisStopBus]] = []

    async def make(url: str = redis_url, **options: object) -> Process:
        link = RedisLink(url, app=APP, **options)  # type: ignore[arg-type]
        await link.start()
        bus, heard = RedisStopBus(link), Heard()
        await bus.start(heard)
        made.append((link, bus))
        return bus, heard

    yield make
    for link, bus in made:
        await bus.close()
        await link.close()


async def test_a_stop_reaches_every_process_once(processes) -> None:
    (pressed, here), (_, streaming), (_, third) = [await processes() for _ in range(3)]
    await pressed.publish(41)
    await pressed.publish(42)
    assert await streaming.until(2) == [41, 42]
    assert await third.until(2) == [41, 42]
    await asyncio.sleep(0.1)  # room for a doubled delivery to show
    assert here.ids == [41, 42]  # at once, and not again when its own message comes back


async def test_a_malformed_message_is_ignored(processes, redis_url: str) -> None:
    (_, heard), (other, _) = await processes(), await processes()
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await raw.publish(f"coursebot:{{{APP}}}:stop", "not-a-number someone")
    finally:
        await raw.aclose()
    await other.publish(7)
    assert await heard.until(1) == [7]


async def test_the_subscription_survives_a_redis_restart(own_redis: RedisServer, processes) -> None:
    (pressed, _), (_, streaming) = [await processes(own_redis.url, probe=0.05) for _ in range(2)]
    await pressed.publish(1)
    assert await streaming.until(1) == [1]

    own_redis.kill()
    await pressed.publish(2)  # Redis is gone: heard only where it was pressed
    own_redis.start()
    while True:  # the listener resubscribes on its own; until then a Stop is not heard elsewhere
        await pressed.publish(3)
        try:
            await asyncio.wait_for(streaming.until(2), timeout=0.2)
            break
        except TimeoutError:
            continue
    assert streaming.ids[0:2] == [1, 3] and 2 not in streaming.ids


async def test_one_process_needs_no_redis() -> None:
    bus, heard = LocalStopBus(), Heard()
    await bus.start(heard)
    await bus.publish(5)
    assert heard.ids == [5]
    await bus.close()
    await bus.publish(6)
    assert heard.ids == [5]
