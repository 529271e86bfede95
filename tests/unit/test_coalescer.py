"""The platform-free "latest count, at most every so often" updater both quiz adapters use."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.core.coalescer import Coalescer


async def settle(coalescer: Coalescer) -> None:
    while coalescer._running:
        await asyncio.sleep(0.001)


async def test_requests_while_an_update_runs_merge_into_one_more() -> None:
    coalescer = Coalescer(interval=0.0)
    release = asyncio.Event()
    runs: list[int] = []
    clicks: list[int] = []

    async def update() -> None:
        runs.append(len(clicks))  # reads the count when it runs, not when it was asked for
        await release.wait()

    for click in range(10):
        clicks.append(click)
        coalescer.request("quiz-message", update)
        await asyncio.sleep(0)
    release.set()
    await settle(coalescer)
    assert runs == [1, 10]


async def test_keys_are_independent() -> None:
    coalescer = Coalescer(interval=0.0)
    seen: list[str] = []

    def updater(key: str):
        async def update() -> None:
            seen.append(key)
        return update

    for key in ("a", "b", "a", "b"):
        coalescer.request(key, updater(key))
    await settle(coalescer)
    assert sorted(seen) == ["a", "b"]


async def test_a_request_during_the_interval_waits_for_it_and_runs_once() -> None:
    coalescer = Coalescer(interval=0.05)
    runs = 0

    async def update() -> None:
        nonlocal runs
        runs += 1

    coalescer.request("m", update)
    await asyncio.sleep(0.01)  # the first update ran; the interval is not over
    coalescer.request("m", update)
    coalescer.request("m", update)
    assert runs == 1
    await settle(coalescer)
    assert runs == 2


async def test_a_failed_update_is_logged_and_the_next_request_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    coalescer = Coalescer(interval=0.0)
    calls = 0

    async def update() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the platform refused")

    with caplog.at_level(logging.WARNING):
        coalescer.request("m", update)
        await settle(coalescer)
        coalescer.request("m", update)
        await settle(coalescer)
    assert calls == 2
    assert "could not update the count of message m" in caplog.text


async def test_close_cancels_pending_updates() -> None:
    coalescer = Coalescer(interval=10.0)
    runs = 0

    async def update() -> None:
        nonlocal runs
        runs += 1

    coalescer.request("m", update)
    await asyncio.sleep(0.01)
    coalescer.request("m", update)
    coalescer.close()
    await settle(coalescer)
    assert runs == 1
