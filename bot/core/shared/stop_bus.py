"""Stop signals: a Stop pressed on any process reaches the process streaming that answer.

The core always talks to a :class:`StopBus`: ``await bus.start(on_stop)`` once, ``await bus.publish(answer_id)``
when a learner presses Stop (after the ownership check), ``await bus.close()`` at shutdown. ``on_stop(answer_id)``
is called in every process, the publishing one included, and stops the answer if it streams there.

:class:`LocalStopBus` serves one process. :class:`RedisStopBus` publishes on one Redis channel per app; the
publishing process calls its own ``on_stop`` at once (and skips its own message when it comes back), so a Stop
on the streaming process never depends on Redis. Pub/sub keeps nothing: a Stop published while Redis is down, or
while a subscriber is reconnecting, reaches only the publishing process. The listener resubscribes by itself
once the link is back (after a Redis restart too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bot.core.shared.link import RedisLink, RedisUnavailable

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

StopCallback = Callable[[int], None]

LISTEN_TIMEOUT = 1.0  # seconds a listener waits for a message before it checks its connection again


class StopBus(Protocol):
    async def start(self, on_stop: StopCallback) -> None: ...

    async def publish(self, answer_id: int) -> None: ...

    async def close(self) -> None: ...


class LocalStopBus:
    """One process: a Stop is delivered to ``on_stop`` directly."""

    def __init__(self) -> None:
        self._on_stop: StopCallback | None = None

    async def start(self, on_stop: StopCallback) -> None:
        self._on_stop = on_stop

    async def publish(self, answer_id: int) -> None:
        if self._on_stop is not None:
            self._on_stop(answer_id)

    async def close(self) -> None:
        self._on_stop = None


class RedisStopBus:
    """Every process of the app: a Stop is published on the app's Redis channel."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._channel = link.key("stop")
        self._on_stop: StopCallback | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, on_stop: StopCallback) -> None:
        """Subscribe (waiting for the first subscription while Redis is up, so no Stop after this is missed)."""
        self._on_stop = on_stop
        self._listener = asyncio.create_task(self._listen(), name="stop-bus")
        if self._link.up:
            subscribed = asyncio.ensure_future(self._subscribed.wait())
            await asyncio.wait([subscribed, self._listener], timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
            subscribed.cancel()

    async def publish(self, answer_id: int) -> None:
        if self._on_stop is not None:
            self._on_stop(answer_id)
        try:
            await self._link.call(lambda: self._link.client.publish(self._channel, f"{answer_id} {self._link.member}"))
        except RedisUnavailable:
            log.warning("Stop for answer %s reached only this process: Redis is unreachable", answer_id)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        self._on_stop = None

    async def _listen(self) -> None:
        """Deliver others' Stops; after a lost connection wait for the link and subscribe again."""
        while True:
            await self._link.until_up()
            pubsub = self._link.client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._receive(pubsub)
            except RedisUnavailable:
                self._subscribed.clear()
            except Exception:  # not a lost connection: a bug or a misconfigured server; keep listening
                self._subscribed.clear()
                log.exception("the Stop listener failed; subscribing again")
                await asyncio.sleep(self._link.probe)
            finally:
                await _close_quietly(pubsub)

    async def _receive(self, pubsub: PubSub) -> None:
        await self._link.call(lambda: pubsub.subscribe(self._channel))
        self._subscribed.set()
        while True:
            message = await self._link.call(lambda: pubsub.get_message(timeout=LISTEN_TIMEOUT))
            if message is not None:
                self._deliver(message["data"])

    def _deliver(self, data: str) -> None:
        answer, _, origin = data.partition(" ")
        if origin == self._link.member:
            return  # delivered at once when it was published
        try:
            answer_id = int(answer)
        except ValueError:
            log.warning("ignored a malformed Stop message on %s: %r", self._channel, data[:100])
            return
        if self._on_stop is not None:
            self._on_stop(answer_id)


async def _close_quietly(pubsub: PubSub) -> None:
    try:
        await pubsub.aclose()
    except Exception:  # the connection is gone already; there is nothing left to release
        log.debug("closing a stop-bus subscription failed", exc_info=True)
