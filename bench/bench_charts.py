"""The instructor's chart with 1,000 learners: the queries behind it, the drawing, and the event loop meanwhile (issue 12).

    python bench/bench_charts.py [--learners 1000] [--runs 7] [--content content]

A SQLite store is filled once with ``--learners`` learners of one Discord server going through the default
module (seeded, so every run sees the same data): most read the first lessons and fewer the later ones, most
answer the quizzes (about 70% right), some ask in the labs, some take the module test. Then, ``--runs`` times:

(a) data: ``CourseService.stats`` + ``InstructorView.funnel`` + ``InstructorView.progress_csv`` (the queries
    ``/course stats`` runs besides today's);
(b) draw: ``render_course_chart`` on the calling thread (the CPU cost);
(c) ``course_chart`` as the adapters call it (a worker thread), while a task on the event loop wakes every
    millisecond: the longest time the loop went without turning, i.e. how long learners would wait on it.

Each figure is the median of the runs. Nothing here is asserted: tests never time things.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bot.core.charts import course_chart, render_course_chart
from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.instructor import InstructorView
from bot.core.store import store_for
from bot.core.store.base import LabTurn, LearnerRef

PLATFORM, SERVER = "discord", "bench-guild"


async def fill(course: CourseService, learners: int, seed: int = 12) -> None:
    """``learners`` learners with a course-like drop-off from lesson to lesson."""
    rng = random.Random(seed)
    store, module = course.store, course.module()
    for n in range(learners):
        learner = await store.learner_id(LearnerRef(PLATFORM, SERVER, f"U{n}", f"Learner {n}"))
        reach = 1.0
        for lesson in module.lesson_numbers:
            reach *= rng.uniform(0.7, 0.95)
            if rng.random() > reach:
                break
            await store.record_lesson_view(learner, module.number, lesson)
            quiz = module.quizzes.get(lesson)
            if quiz is not None and rng.random() < 0.85:
                for question in quiz.questions:
                    option = question.correct_option if rng.random() < 0.7 else rng.choice(question.options)
                    await store.record_quiz_answer(learner, module.number, lesson, question.id, option.index,
                                                   option.correct, f"q:{n}:{lesson}:{question.id}")
            for lab in (lab for lab in module.labs.values() if lab.lesson == lesson):
                if rng.random() < 0.5:
                    thread = await store.create_lab_thread(learner, module.number, lab.number, PLATFORM, f"t:{n}:{lab.number}")
                    for turn in range(rng.randint(1, 4)):
                        await store.record_lab_turn(thread.id, f"l:{n}:{lab.number}:{turn}",
                                                    LabTurn(question="Why stream?", answer="Because…", status="complete"))
        if module.test is not None and reach > 0.5 and rng.random() < 0.6:
            attempt = await store.start_attempt(learner, module.number)
            score = 0
            for question in module.test.questions:
                option = question.correct_option if rng.random() < 0.8 else rng.choice(question.options)
                score += option.correct
                await store.record_test_answer(attempt.id, question.id, option.index, option.correct,
                                               f"t:{n}:{question.id}")
            total = len(module.test.questions)
            await store.finish_attempt(attempt.id, score, total, score / total >= module.test.pass_mark)


async def longest_stall(work: asyncio.Future[bytes], tick: float = 0.001) -> tuple[bytes, float]:
    """Await ``work`` while a task sleeps ``tick`` at a time; the longest gap between its wake-ups (seconds)."""
    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while True:
            await asyncio.sleep(tick)
            now = time.perf_counter()
            longest = max(longest, now - last - tick)
            last = now

    task = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        task.cancel()
    return result, longest


async def bench(content: Path, learners: int, runs: int) -> None:
    course_data = load_course(content)
    with tempfile.TemporaryDirectory() as folder:
        store = store_for(str(Path(folder) / "bench.db"))
        await store.open()
        try:
            course = CourseService(course_data, store)
            view = InstructorView(course)
            started = time.perf_counter()
            await fill(course, learners)
            print(f"filled {learners} learners in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            data, draw, threaded, stalls = [], [], [], []
            png = b""
            for _ in range(runs):
                t0 = time.perf_counter()
                stats = await course.stats()
                funnel = await view.funnel()
                progress = await view.progress_csv(PLATFORM, SERVER)
                t1 = time.perf_counter()
                png = render_course_chart(funnel, stats)
                t2 = time.perf_counter()
                png, stall = await longest_stall(asyncio.ensure_future(course_chart(funnel, stats)))
                t3 = time.perf_counter()
                data.append(t1 - t0)
                draw.append(t2 - t1)
                threaded.append(t3 - t2)
                stalls.append(stall)
        finally:
            await store.close()
    image = Image.open(io.BytesIO(png))
    rows = progress.count("\n") - 1
    print(f"learners: {learners} ({rows} rows in the progress CSV); funnel: {funnel}", file=sys.stderr)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}; {runs} runs; load average {os.getloadavg()[0]:.1f}")
    print(f"chart: {image.width} x {image.height} px, {len(png):,} bytes")
    print()
    print("| Step | median | min | max |")
    print("|---|---|---|---|")
    for name, values in (("(a) data: stats + funnel + progress CSV", data),
                         ("(b) draw: `render_course_chart`", draw),
                         ("(c) `course_chart` in a worker thread", threaded),
                         ("(c) longest event-loop stall meanwhile", stalls)):
        print(f"| {name} | {statistics.median(values) * 1000:.1f} ms | {min(values) * 1000:.1f} ms"
              f" | {max(values) * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--content", type=Path, default=Path(__file__).resolve().parents[1] / "content")
    args = parser.parse_args()
    asyncio.run(bench(args.content, args.learners, args.runs))


if __name__ == "__main__":
    main()
