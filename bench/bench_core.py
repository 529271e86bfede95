"""Core benchmarks: start-up time to ready, and answer-write throughput with concurrent learners.

    python bench/bench_core.py [--runs 5] [--learners 50] [--content content]

(a) start-up: ``load_course(content/)`` plus ``SQLiteStore.open()`` (every migration) on a fresh file,
    in this process; and a cold start: a new Python process that reads the settings and runs
    ``Runtime.start`` (imports, content, migrations; no chat tokens or Claude key), as ``coursebot`` does.
(b) throughput: ``--learners`` learners at once, each answering every quiz question of the default
    module and then the whole module test through ``CourseService`` (the path a button press takes),
    on a fresh database file. Reported as answers per second.

Each figure is the median of ``--runs`` runs. Nothing here is asserted: tests never time things.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.core.content.loader import load_course
from bot.core.content.model import Course
from bot.core.course import CourseService
from bot.core.store.base import LearnerRef
from bot.core.store.sqlite import SQLiteStore


async def startup(content: Path, folder: Path, run: int) -> tuple[float, float]:
    """Seconds to load the content, and to open (create and migrate) a fresh database."""
    started = time.perf_counter()
    load_course(content)
    loaded = time.perf_counter()
    store = SQLiteStore(folder / f"startup-{run}.db")
    await store.open()
    opened = time.perf_counter()
    await store.close()
    return loaded - started, opened - loaded


# What ``coursebot`` does before it is ready, in a fresh interpreter (settings come from the environment).
COLD_START = """
import asyncio
from bot.config import load_settings
from bot.runtime import Runtime

async def ready() -> None:
    runtime = await Runtime.start(load_settings())
    await runtime.close()

asyncio.run(ready())
"""


def cold_start(content: Path, folder: Path, run: int) -> float:
    """Seconds from starting a new Python process to the runtime being ready (and closed)."""
    tokens = ("ANTHROPIC_", "DISCORD_", "SLACK_")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(tokens)}
    environment |= {"COURSEBOT_CONTENT": str(content), "COURSEBOT_DB": str(folder / f"cold-{run}.db")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", COLD_START], check=True, cwd=folder, env=environment)
    return time.perf_counter() - started


async def learner_session(service: CourseService, who: LearnerRef) -> int:
    """Answer every quiz question and the whole test; the number of answers written."""
    module = service.module()
    written = 0
    for lesson, quiz in sorted(module.quizzes.items()):
        for question in quiz.questions:
            await service.answer_quiz(who, lesson, question.id, 0, f"{who.user_id}:quiz:{question.id}")
            written += 1
    if module.test is not None:
        state = await service.start_test(who)
        while state.next_question is not None:
            question = state.next_question
            event_id = f"{who.user_id}:test:{question.id}"
            state = await service.answer_test(who, state.attempt.id, question.id, 0, event_id)
            written += 1
        await service.finish_test(who, state.attempt.id)
    return written


async def throughput(course: Course, folder: Path, run: int, learners: int) -> tuple[int, float]:
    """Answers written and the seconds they took, ``learners`` learners at once."""
    store = SQLiteStore(folder / f"throughput-{run}.db")
    await store.open()
    service = CourseService(course, store)
    who = [LearnerRef("console", "bench", f"user-{n}", f"Learner {n}") for n in range(learners)]
    try:
        started = time.perf_counter()
        written = await asyncio.gather(*(learner_session(service, person) for person in who))
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    return sum(written), elapsed


async def main(runs: int, learners: int, content: Path) -> None:
    course = load_course(content)
    load_times, open_times, cold_times, rates = [], [], [], []
    answers = 0
    with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as tmp:
        folder = Path(tmp)
        for run in range(runs):
            loaded, opened = await startup(content, folder, run)
            load_times.append(loaded)
            open_times.append(opened)
            cold_times.append(cold_start(content, folder, run))
            answers, elapsed = await throughput(course, folder, run, learners)
            rates.append(answers / elapsed)

    ready = [a + b for a, b in zip(load_times, open_times, strict=True)]
    print(f"machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()},"
          f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.system()}")
    print(f"median of {runs} runs; throughput: {learners} concurrent learners, {answers} answers per run\n")
    table = [
        ("start-up: load_course(content/)", statistics.median(load_times) * 1000, "ms"),
        ("start-up: SQLiteStore.open() + migrations", statistics.median(open_times) * 1000, "ms"),
        ("start-up: time to ready (sum)", statistics.median(ready) * 1000, "ms"),
        ("cold start: new process to Runtime ready", statistics.median(cold_times) * 1000, "ms"),
        ("answer writes", statistics.median(rates), "answers/s"),
        ("answer writes (slowest run)", min(rates), "answers/s"),
    ]
    width = max(len(name) for name, _, _ in table)
    for name, value, unit in table:
        print(f"{name:<{width}}  {value:>10.1f} {unit}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument("--learners", type=int, default=50, help="concurrent learners in the throughput run")
    parser.add_argument("--content", type=Path, default=Path(__file__).resolve().parent.parent / "content")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.learners < 1:
        parser.error("--runs and --learners must be at least 1")
    return args


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    asyncio.run(main(options.runs, options.learners, options.content))
