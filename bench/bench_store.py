"""Store write latency under a steady load, on SQLite and on PostgreSQL (issue 10).

    python bench/bench_store.py [--runs 5] [--rate 200] [--seconds 10] [--dsn postgresql://…] [--content content]

Open-loop load: operations start on a fixed schedule (``--rate`` per second for ``--seconds``) whether or not
earlier ones finished, and each latency runs from the operation's scheduled start to its end, so queueing
counts. Two loads:

(a) claim write: ``Store.claim_answer`` (a lab question admitted, claimed by its event id), each from its own
    learner's thread, on SQLite and on PostgreSQL;
(b) quiz click: ``CourseService.answer_quiz`` (the path a quiz button press takes: learner lookup and the
    idempotent first-answer write), each click a different learner and question, on PostgreSQL
    (issue 10's target: p99 under 100 ms at 200 clicks/s).

Without ``--dsn`` a throwaway PostgreSQL server is started (tests/postgres.py, durable: fsync and synchronous
commit on, as in production) and removed afterwards. Each figure is the median of ``--runs`` runs, each run on
a fresh database. Nothing here is asserted: tests never time things.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core.content.loader import load_course
from bot.core.content.model import Course
from bot.core.course import CourseService
from bot.core.store import store_for
from bot.core.store.base import LearnerRef, Store

Operation = Callable[[int], Awaitable[object]]


async def open_loop(operation: Operation, rate: float, count: int) -> list[float]:
    """Start ``operation(i)`` at ``i / rate`` seconds for i < count; each one's latency from its scheduled start."""
    latencies = [0.0] * count
    started = time.perf_counter()

    async def timed(index: int, due: float) -> None:
        await operation(index)
        latencies[index] = time.perf_counter() - due

    tasks = []
    for index in range(count):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(index, due)))
    await asyncio.gather(*tasks)
    return latencies


class Figures:
    """Latency figures of several runs (p50 and p99 of each, in ms), printed as their medians with every run."""

    def __init__(self) -> None:
        self.runs: dict[str, list[float]] = {}

    def note(self, name: str, latencies: list[float]) -> None:
        self.runs.setdefault(f"{name} p50", []).append(statistics.median(latencies) * 1000)
        self.runs.setdefault(f"{name} p99", []).append(p99(latencies) * 1000)

    def print(self) -> None:
        width = max(len(name) for name in self.runs)
        for name, values in self.runs.items():
            runs = ", ".join(f"{v:.1f}" for v in values)
            print(f"{name:<{width}}  {statistics.median(values):>8.1f} ms   (runs: {runs})")


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.99) - 1)]


async def claim_run(target: str, rate: float, count: int) -> list[float]:
    """``count`` claim writes at ``rate`` per second, each from its own learner's lab thread."""
    store = store_for(target)
    await store.open()
    try:
        threads = []
        for n in range(count):
            learner = await store.learner_id(LearnerRef("slack", "T-bench", f"U{n}", f"Learner {n}"))
            threads.append(await store.create_lab_thread(learner, 1, 1, "slack", f"C{n}:1.0"))

        async def claim(index: int) -> object:
            thread = threads[index]
            return await store.claim_answer(
                f"ev-{index}", thread.id, thread.learner_id, "Why stream answers?", owner="bench", lease=30
            )

        return await open_loop(claim, rate, count)
    finally:
        await store.close()


async def click_run(target: str, course: Course, rate: float, count: int) -> list[float]:
    """``count`` quiz clicks at ``rate`` per second through ``CourseService``, every one a first answer."""
    store: Store = store_for(target)
    await store.open()
    try:
        service = CourseService(course, store)
        questions = [(lesson, q.id) for lesson, quiz in sorted(service.module().quizzes.items()) for q in quiz.questions]
        learners = [LearnerRef("discord", "G-bench", f"u{n}", f"Learner {n}") for n in range(math.ceil(count / len(questions)))]
        for who in learners:  # known learners, as in a running course
            await store.learner_id(who)

        async def click(index: int) -> object:
            who = learners[index // len(questions)]
            lesson, question_id = questions[index % len(questions)]
            return await service.answer_quiz(who, lesson, question_id, 0, f"click-{index}")

        return await open_loop(click, rate, count)
    finally:
        await store.close()


async def fresh_database(admin_dsn: str, name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"


async def measure(args: argparse.Namespace, admin_dsn: str, folder: Path) -> None:
    course = load_course(args.content)
    count = int(args.rate * args.seconds)
    figures = Figures()
    note = figures.note

    for run in range(args.runs):
        note("claim write, SQLite", await claim_run(str(folder / f"claims-{run}.db"), args.rate, count))
        note("claim write, PostgreSQL", await claim_run(await fresh_database(admin_dsn, f"bench_claims_{run}"),
                                                        args.rate, count))
        note("quiz click, PostgreSQL", await click_run(await fresh_database(admin_dsn, f"bench_clicks_{run}"),
                                                       course, args.rate, count))

    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()},"
          f" {platform.system()}")
    print(f"median of {args.runs} runs; {args.rate:.0f} operations/s for {args.seconds:.0f} s ({count} per run)\n")
    figures.print()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument("--rate", type=float, default=200, help="operations started per second")
    parser.add_argument("--seconds", type=float, default=10, help="how long each load lasts")
    parser.add_argument("--dsn", help="a PostgreSQL server's admin DSN (default: start a throwaway one)")
    parser.add_argument("--content", type=Path, default=Path("content"), help="the course content folder")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as tmp:
        if args.dsn:
            asyncio.run(measure(args, args.dsn, Path(tmp)))
            return
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.postgres import start_server, stop_server

        server = start_server(durable=True)
        try:
            asyncio.run(measure(args, server.dsn(), Path(tmp)))
        finally:
            stop_server(server)


if __name__ == "__main__":
    main(sys.argv[1:])
