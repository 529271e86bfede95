"""The instructor's chart: a real PNG (decoded with Pillow) of a sensible size, drawn from the data it is given."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.core import charts
from bot.core.charts import Funnel, LessonFunnel, course_chart, question_labels, render_course_chart
from bot.core.course import CourseService, QuestionStats
from bot.core.instructor import InstructorView
from bot.core.store.base import LabTurn
from tests.unit.course_factory import learner, make_course, make_module, make_question, opened_store, wrong_index

MODULE = make_module(lessons=3, labs=2)


def _stats(shares: list[tuple[int, int]]) -> list[QuestionStats]:
    """Quiz 1's questions with (correct, answered) first answers each; answered 0 means nobody answered yet."""
    questions = [make_question(f"q{i}") for i in range(len(shares))]
    return [
        QuestionStats(kind="quiz", scope=1, question=q, answered=answered,
                      share_correct=correct / answered if answered else 0.0, option_counts=(correct, answered - correct, 0))
        for q, (correct, answered) in zip(questions, shares, strict=True)
    ]


FUNNEL = Funnel(module=5, lessons=(LessonFunnel(1, 40, 30, 20), LessonFunnel(2, 25, 20, 0)), passed=12)


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel: a truncated or corrupt file raises here
    return image


def _has_colour(image: Image.Image, hex_colour: str) -> bool:
    wanted = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return any(rgb == wanted for _, rgb in colours)


def test_the_chart_is_a_png_of_sensible_size_with_something_drawn() -> None:
    image = _decode(render_course_chart(FUNNEL, _stats([(1, 4), (3, 4), (4, 4), (0, 0)])))
    assert image.format == "PNG"
    assert 800 <= image.width <= 2000 and 400 <= image.height <= 2000
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    white = sum(n for n, rgb in colours if rgb == (255, 255, 255))
    assert white < image.width * image.height * 0.97  # not blank
    assert _has_colour(image, charts.PASSED_COLOUR)  # the module test's bar
    assert _has_colour(image, "#de2d26")  # a question under 50% correct


def test_the_chart_grows_with_the_questions_answered_only() -> None:
    few = _decode(render_course_chart(FUNNEL, _stats([(1, 2)] * 3)))
    many = _decode(render_course_chart(FUNNEL, _stats([(1, 2)] * 40)))
    unanswered = _decode(render_course_chart(FUNNEL, _stats([(1, 2)] * 3 + [(0, 0)] * 37)))
    assert many.height > few.height and many.width == few.width
    assert unanswered.size == few.size
    assert many.height <= 2000


def test_without_answers_the_chart_still_renders() -> None:
    empty = Funnel(module=5, lessons=(LessonFunnel(1, 0, 0, 0),), passed=0)
    image = _decode(render_course_chart(empty, _stats([(0, 0)])))
    assert image.width >= 800 and not _has_colour(image, "#de2d26")


def test_question_labels_number_each_quiz_and_the_test() -> None:
    quiz = _stats([(1, 1), (1, 1)])
    test = [QuestionStats("test", 0, make_question("t1"), 0, 0.0, (0, 0, 0))]
    second = [QuestionStats("quiz", 2, make_question("x"), 0, 0.0, (0, 0, 0))]
    assert question_labels(quiz + second + test) == ["Quiz 1 Q1", "Quiz 1 Q2", "Quiz 2 Q1", "Test Q1"]


async def test_rendering_leaves_the_event_loop_free() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    png = await course_chart(FUNNEL, _stats([(1, 4)] * 20))
    task.cancel()
    _decode(png)
    # drawn in a worker thread, the loop keeps turning meanwhile (on the loop itself it would turn once)
    assert ticks - before > 20


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[CourseService]:
    async with opened_store(tmp_path / "course.db") as store:
        yield CourseService(make_course(MODULE), store)


async def test_the_funnel_counts_distinct_learners_per_lesson_stage(service: CourseService) -> None:
    store = service.store
    for n in (1, 2, 3):
        await service.view_lesson(learner(n), 1)
    await service.view_lesson(learner(1), 1)  # a second view of the same learner counts once
    await service.view_lesson(learner(1), 2)
    question = MODULE.quizzes[1].questions[0]
    for n in (1, 2):
        await service.answer_quiz(learner(n), 1, question.id, wrong_index(question), f"ev-{n}")
    thread = await service.open_lab(learner(1), 1, "discord", "thread-1")
    await store.record_lab_turn(thread.id, "t1", LabTurn(question="?", answer="!", status="complete"))
    await store.record_lab_turn(thread.id, "t2", LabTurn(question="?", answer="", status="failed"))

    funnel = await InstructorView(service).funnel()
    assert funnel == Funnel(module=5, lessons=(
        LessonFunnel(1, viewed=3, quiz=2, lab=1), LessonFunnel(2, viewed=1, quiz=0, lab=0),
        LessonFunnel(3, viewed=0, quiz=0, lab=0),
    ), passed=0)
