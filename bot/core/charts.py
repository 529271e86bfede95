"""The instructor's chart: the course funnel per lesson and the share of correct first answers per question.

Drawn with matplotlib's object API on an Agg canvas (no ``pyplot``: no global figure state, so renders in
worker threads do not share anything). Rendering takes a few hundred milliseconds of CPU, so callers use
:func:`course_chart`, which runs :func:`render_course_chart` in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.core.course import QuestionStats

DPI = 100
WIDTH_INCHES = 13.0
PROMPT_MAX = 48
STAGES = (("viewed", "Viewed the lesson", "#9ecae1"), ("quiz", "Answered its quiz", "#4292c6"),
          ("lab", "Asked in its lab", "#08519c"))
PASSED_COLOUR = "#2ca25f"


@dataclass(frozen=True, slots=True)
class LessonFunnel:
    """Distinct learners who reached each stage of one lesson."""

    lesson: int
    viewed: int
    quiz: int
    lab: int


@dataclass(frozen=True, slots=True)
class Funnel:
    """The course funnel of a module: per lesson, then who passed the module test."""

    module: int
    lessons: tuple[LessonFunnel, ...]
    passed: int


def question_labels(stats: Sequence[QuestionStats]) -> list[str]:
    """``Quiz 2 Q1``, ``Test Q7``: each question numbered within its quiz or the test, as ``/course stats`` shows."""
    numbers: dict[tuple[str, int], int] = {}
    labels = []
    for entry in stats:
        number = numbers[entry.kind, entry.scope] = numbers.get((entry.kind, entry.scope), 0) + 1
        labels.append(f"{f'Quiz {entry.scope}' if entry.kind == 'quiz' else 'Test'} Q{number}")
    return labels


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _draw_funnel(axes: Axes, funnel: Funnel) -> None:
    width = 0.26
    for offset, (key, name, colour) in enumerate(STAGES):
        xs = [i + (offset - 1) * width for i in range(len(funnel.lessons))]
        heights = [getattr(lesson, key) for lesson in funnel.lessons]
        bars = axes.bar(xs, heights, width, label=name, color=colour)
        axes.bar_label(bars, fontsize=8, padding=2)
    test_x = len(funnel.lessons)
    passed = axes.bar([test_x], [funnel.passed], width, label="Passed the module test", color=PASSED_COLOUR)
    axes.bar_label(passed, fontsize=8, padding=2)
    axes.set_xticks([*range(len(funnel.lessons)), test_x],
                    [*(f"Lesson {lesson.lesson}" for lesson in funnel.lessons), "Module test"])
    axes.set_ylabel("Learners")
    axes.set_title(f"Module {funnel.module}: how far learners got")
    axes.yaxis.get_major_locator().set_params(integer=True)
    top = max([funnel.passed, *(max(lesson.viewed, lesson.quiz, lesson.lab) for lesson in funnel.lessons)])
    axes.set_ylim(0, max(1, top) * 1.15)
    axes.legend(loc="upper right", fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)


def _draw_correctness(axes: Axes, stats: Sequence[QuestionStats]) -> None:
    labelled = [(label, entry) for label, entry in zip(question_labels(stats), stats, strict=True) if entry.answered]
    labelled.sort(key=lambda pair: pair[1].share_correct)  # worst first (stable: course order among equals)
    axes.set_title("Correct first answers per question, worst first")
    axes.spines[["top", "right"]].set_visible(False)
    if not labelled:
        axes.text(0.5, 0.5, "No answers yet", ha="center", va="center", transform=axes.transAxes, fontsize=12)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    shares = [entry.share_correct * 100 for _, entry in labelled]
    colours = ["#de2d26" if share < 50 else "#fdae6b" if share < 75 else "#74c476" for share in shares]
    positions = range(len(labelled))
    axes.barh(positions, shares, color=colours)
    axes.set_yticks(positions, [f"{label} · {_clip(entry.question.prompt, PROMPT_MAX)}" for label, entry in labelled],
                    fontsize=8)
    axes.invert_yaxis()  # the worst at the top
    axes.set_xlim(0, 118)
    axes.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    for position, share, (_, entry) in zip(positions, shares, labelled, strict=True):
        axes.text(share + 1, position, f"{round(share)}% of {entry.answered}", va="center", fontsize=7)


def render_course_chart(funnel: Funnel, stats: Sequence[QuestionStats]) -> bytes:
    """The chart as PNG bytes: the funnel on the left, correctness per question (answered ones) on the right.

    CPU-bound and blocking: call it through :func:`course_chart` from async code.
    """
    answered = sum(1 for entry in stats if entry.answered)
    height = max(5.0, 1.2 + 0.28 * answered)
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.25))
    _draw_funnel(left, funnel)
    _draw_correctness(right, stats)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, facecolor="white")
    return out.getvalue()


async def course_chart(funnel: Funnel, stats: Sequence[QuestionStats]) -> bytes:
    """:func:`render_course_chart` in a worker thread, so the event loop keeps serving learners meanwhile."""
    return await asyncio.to_thread(render_course_chart, funnel, list(stats))
