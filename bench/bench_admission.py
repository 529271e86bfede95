"""What lab admission adds to a question, at 200 questions/s on SQLite (issue 8).

    python bench/bench_admission.py [--runs 5] [--rate 200] [--seconds 10] [--history 5]

``LabAssistant.admit`` is everything between a learner's question arriving and its answer starting: the
question checks, the redelivery check (``is_claimed``), the hourly question and daily token limits (two
queries over the learner's claims and turns) and the claim write (``claim_answer``, one transaction). Nothing
is sent to Claude: admission makes no API call. Beside it, the claim write alone (``bench_store.claim_run``)
shows which part is the write.

Open-loop load (``bench_store.open_loop``): questions start on a fixed schedule whether or not earlier ones
finished, and each latency runs from the question's scheduled start, so queueing counts. The class: a learner
for every 10 questions, each question in its own lab thread, every learner with ``--history`` earlier answered
turns today (the token query has rows to sum). Each figure is the median over ``--runs`` runs, each on a fresh
database. Nothing here is asserted: tests never time things.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anthropic import AsyncAnthropic  # noqa: E402

from bench.bench_store import Figures, claim_run, open_loop  # noqa: E402
from bot.core.content.loader import load_course  # noqa: E402
from bot.core.course import CourseService  # noqa: E402
from bot.core.labs import LabAssistant, LabConfig  # noqa: E402
from bot.core.store.base import LabTurn, LearnerRef  # noqa: E402
from bot.core.store.sqlite import SQLiteStore  # noqa: E402

QUESTIONS_PER_LEARNER = 10  # within the default 30 an hour: every question is admitted


async def admission_run(db: Path, content: Path, rate: float, count: int, history: int) -> list[float]:
    """``count`` questions admitted at ``rate`` per second; the latency of each ``admit``."""
    store = SQLiteStore(db)
    await store.open()
    client = AsyncAnthropic(api_key="unused", base_url="http://127.0.0.1:9")  # admission never calls it
    try:
        course = CourseService(load_course(content), store)
        assistant = LabAssistant(client, LabConfig(model="claude-haiku-5-5"), course, store, owner="bench")
        lab = min(course.module().labs)
        learners = -(-count // QUESTIONS_PER_LEARNER)
        threads = []
        for n in range(learners):
            who = LearnerRef("slack", "T-bench", f"U{n}", f"Learner {n}")
            earlier = await course.open_lab(who, lab, "slack", f"C{n}:0.0")
            for turn in range(history):
                answered = LabTurn(question="Earlier?", answer="An answer.", status="complete", output_tokens=300)
                await store.record_lab_turn(earlier.id, f"old-{n}-{turn}", answered)
            threads.append([await course.open_lab(who, lab, "slack", f"C{n}:{q + 1}.0")
                            for q in range(QUESTIONS_PER_LEARNER)])

        async def admit(index: int) -> object:
            thread = threads[index % learners][index // learners]
            ticket = await assistant.admit(thread, "Why do streamed answers feel faster?", event_id=f"ev-{index}")
            assert ticket is not None, "every question is new and within the limits"
            return ticket

        return await open_loop(admit, rate, count)
    finally:
        await client.close()
        await store.close()


async def measure(args: argparse.Namespace, folder: Path) -> None:
    count = int(args.rate * args.seconds)
    figures = Figures()

    note = figures.note

    for run in range(args.runs):
        note("admission (LabAssistant.admit)", await admission_run(
            folder / f"admission-{run}.db", args.content, args.rate, count, args.history))
        note("claim write alone (claim_answer)", await claim_run(str(folder / f"claims-{run}.db"), args.rate, count))

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {platform.system()}; load average {load}")
    print(f"median of {args.runs} runs; {args.rate:.0f} questions/s for {args.seconds:.0f} s ({count} per run), "
          f"{args.history} earlier turns per learner\n")
    figures.print()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument("--rate", type=float, default=200, help="questions started per second")
    parser.add_argument("--seconds", type=float, default=10, help="how long each load lasts")
    parser.add_argument("--history", type=int, default=5, help="earlier answered turns per learner")
    parser.add_argument("--content", type=Path, default=ROOT / "content", help="the course content folder")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main(sys.argv[1:])
