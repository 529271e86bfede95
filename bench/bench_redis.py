"""The cost of one shared acquire (issue 10): a slot in the app's budget kept in Redis, next to the in-process pacer.

    python bench/bench_redis.py [--runs 5] [--acquires 5000] [--url redis://127.0.0.1:6379/0]

Without ``--url`` a throwaway ``redis-server`` is started on a free 127.0.0.1 port (tests/redis_server.py) and
removed afterwards. Every acquire is granted (the windows are far larger than the load, and as short as to hold
no more stamps than a real window), so each figure is the price of asking, not of waiting. Cases:

- ``SharedBudget.acquire``, one window (a Slack method tier) and two (Discord: the global budget and a route);
- the same two windows from 20 concurrent callers (one connection pool), each latency from its call to its grant;
- ``Pacer.acquire`` in-process only, and ``Pacer(shared=...)`` (the local grant, then the shared one).

Each figure is the median over ``--runs`` runs of that run's p50 and p99. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.shared.budget import SharedBudget, SharedWindow  # noqa: E402
from bot.core.shared.link import RedisLink, app_id  # noqa: E402
from bot.core.streaming.pacing import Pacer, Priority, RateLimits  # noqa: E402

# 1,000 in 10 ms: never refuses at this load (every acquire is a grant), and holds no more stamps than a real
# window does (Discord's 50 a second, Slack's 100 a minute).
COUNT, PERIOD = 1000, 0.01
ROUTES = 100  # Discord: the answers' threads the acquires are spread over
LIMITS = RateLimits(per_bucket=(COUNT, PERIOD), global_=(COUNT, PERIOD), margin=0)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(acquire: Callable[[int], Awaitable[object]], count: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    indexes = iter(range(count))

    async def caller() -> None:
        for index in indexes:
            started = time.perf_counter()
            await acquire(index)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies


async def run(url: str, runs: int, acquires: int) -> list[tuple[str, float, float]]:
    link = RedisLink(url, app=app_id("bench", f"{os.getpid()}:{time.time()}"))
    await link.start()
    if not link.up:
        raise SystemExit(f"Redis at {link.where} is unreachable")
    budget = SharedBudget(link)
    one = [SharedWindow("chat.update:T1", COUNT, PERIOD)]

    def discord(index: int) -> list[SharedWindow]:
        return [SharedWindow("global", COUNT, PERIOD), SharedWindow(f"edit:{index % ROUTES}", COUNT, PERIOD)]

    local, shared = Pacer(LIMITS), Pacer(LIMITS, shared=budget.scoped("pacer"))
    cases: dict[str, tuple[Callable[[int], Awaitable[object]], int]] = {
        "SharedBudget.acquire, 1 window": (lambda i: budget.acquire(one), 1),
        "SharedBudget.acquire, 2 windows (global + route)": (lambda i: budget.acquire(discord(i)), 1),
        "SharedBudget.acquire, 2 windows, 20 callers at once": (lambda i: budget.acquire(discord(i)), 20),
        "Pacer.acquire, in-process only": (lambda i: local.acquire(f"{i % ROUTES}", priority=Priority.FIRST), 1),
        "Pacer.acquire with shared=": (lambda i: shared.acquire(f"{i % ROUTES}", priority=Priority.FIRST), 1),
    }
    figures = []
    try:
        for name, (acquire, concurrency) in cases.items():
            await _timed(acquire, 500, concurrency)  # warm up: connections, the script cached by the server
            p50s, p99s = [], []
            for _ in range(runs):
                latencies = await _timed(acquire, acquires, concurrency)
                p50s.append(_quantile(latencies, 0.50))
                p99s.append(_quantile(latencies, 0.99))
            figures.append((name, statistics.median(p50s), statistics.median(p99s)))
    finally:
        await link.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--acquires", type=int, default=5000)
    parser.add_argument("--url", help="an existing Redis (default: start a throwaway redis-server)")
    options = parser.parse_args()
    server = None
    if options.url is None:
        from tests.redis_server import RedisServer

        server = RedisServer()
        server.start()
    try:
        figures = asyncio.run(run(options.url or server.url, options.runs, options.acquires))
    finally:
        if server is not None:
            server.remove()
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {options.runs} runs x {options.acquires} acquires")
    print("| Case | p50 | p99 |\n|---|---|---|")
    for name, p50, p99 in figures:
        print(f"| {name} | {p50 * 1e6:,.0f} µs | {p99 * 1e6:,.0f} µs |")


if __name__ == "__main__":
    main()
