"""What the console's welcome offers a returning learner (``resume_command``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.console.app import resume_command
from bot.core.course import LabProgress, ModuleProgress
from tests.unit.course_factory import make_module

MODULE = make_module(lessons=3)


def progress(*, viewed: tuple[int, ...] = (), passed: bool = False, attempts: int = 0,
             lab_answers: int = 0, quiz_answered: int = 0) -> ModuleProgress:
    return ModuleProgress(
        module=MODULE, lessons_viewed=frozenset(viewed), quiz_correct={1: 0}, quiz_answered={1: quiz_answered},
        labs={n: LabProgress(lab, lab_answers) for n, lab in MODULE.labs.items()},
        best_test_percent=100 if passed else None, test_passed=passed, test_attempts=attempts,
    )


def test_a_new_learner_is_offered_nothing() -> None:
    assert resume_command(progress(), None) is None


@pytest.mark.parametrize(
    ("state", "offer"),
    [
        (progress(viewed=(1,)), f"/lesson 2 {MODULE.number}"),
        (progress(viewed=(1, 3)), f"/lesson 2 {MODULE.number}"),  # the first lesson not read yet
        (progress(viewed=(2,)), f"/lesson 3 {MODULE.number}"),  # the one after the furthest read
        (progress(viewed=(1, 2, 3)), f"/test {MODULE.number}"),
        (progress(quiz_answered=1), f"/lesson 1 {MODULE.number}"),
        (progress(lab_answers=1), f"/lesson 1 {MODULE.number}"),
        (progress(viewed=(1, 2, 3), passed=True, attempts=1), None),
    ],
)
def test_a_returning_learner_is_offered_where_they_left_off(state: ModuleProgress, offer: str | None) -> None:
    assert resume_command(state, None) == offer


def test_a_paused_test_comes_first() -> None:
    paused = object()  # only its presence matters here
    assert resume_command(progress(viewed=(1,)), paused) == f"/test {MODULE.number}"  # type: ignore[arg-type]


def test_without_a_test_reading_everything_leaves_nothing_to_offer() -> None:
    state = replace(progress(viewed=(1, 2, 3)), module=replace(MODULE, test=None))
    assert resume_command(state, None) is None
