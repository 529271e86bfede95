"""The instructor's view of a module: the funnel, the chart, and every learner's progress as CSV.

The per-question statistics and their CSV stay in ``CourseService`` (``stats``, ``stats_csv``); this adds
what an instructor reads at a glance (the chart) and the full progress table beside them. The progress
table lists the learners of one workspace only (the instructor's server or Slack workspace): an instructor
of one community never receives the names of another's learners.
"""

from __future__ import annotations

import csv
import dataclasses
import io

from bot.core.charts import Funnel, LessonFunnel, course_chart
from bot.core.course import CourseService, QuestionStats
from bot.core.store.base import LearnerSummary

PROGRESS_COLUMNS = tuple(field.name for field in dataclasses.fields(LearnerSummary))


def stats_filename(module: int) -> str:
    return f"module-{module}-stats.csv"


def chart_filename(module: int) -> str:
    return f"module-{module}-chart.png"


def progress_filename(module: int) -> str:
    return f"module-{module}-progress.csv"


def progress_csv(summaries: list[LearnerSummary]) -> str:
    """One row per learner (``PROGRESS_COLUMNS``); yes/no for the pass, empty for a test never finished."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PROGRESS_COLUMNS)
    for summary in summaries:
        row = dataclasses.asdict(summary)
        row["test_passed"] = "yes" if summary.test_passed else "no"
        row["best_test_percent"] = "" if summary.best_test_percent is None else summary.best_test_percent
        writer.writerow(row[column] for column in PROGRESS_COLUMNS)
    return out.getvalue()


class InstructorView:
    def __init__(self, course: CourseService) -> None:
        self.course = course

    async def funnel(self, module: int | None = None) -> Funnel:
        """Distinct learners per lesson who viewed it, answered its quiz, asked in its lab; then who passed.

        A lesson with several labs counts the busiest one (learners of two labs are not counted twice).
        """
        found = self.course.module(module)
        counts: dict[tuple[str, int], int] = {
            (row.stage, row.number): row.learners for row in await self.course.store.funnel(found.number)
        }
        lessons = tuple(
            LessonFunnel(
                lesson=lesson,
                viewed=counts.get(("viewed", lesson), 0),
                quiz=counts.get(("quiz", lesson), 0),
                lab=max((counts.get(("lab", lab.number), 0) for lab in found.labs.values() if lab.lesson == lesson),
                        default=0),
            )
            for lesson in found.lesson_numbers
        )
        return Funnel(module=found.number, lessons=lessons, passed=counts.get(("passed", 0), 0))

    async def progress(self, platform: str, workspace: str, module: int | None = None) -> list[LearnerSummary]:
        """Every learner of the workspace with their progress in the module, by learner id."""
        found = self.course.module(module)
        return [summary for summary in await self.course.store.learner_summaries(found.number)
                if summary.platform == platform and summary.workspace == workspace]

    async def chart(self, stats: list[QuestionStats], module: int | None = None) -> bytes:
        """The funnel and ``stats`` (from ``CourseService.stats``) as a PNG, drawn in a worker thread."""
        return await course_chart(await self.funnel(module), stats)

    async def progress_csv(self, platform: str, workspace: str, module: int | None = None) -> str:
        """:func:`progress_csv` of the workspace's learners."""
        return progress_csv(await self.progress(platform, workspace, module))
