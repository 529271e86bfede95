"""The course rules every adapter calls: lessons, quizzes, the module test, labs, progress, statistics.

Adapters (Discord, Slack, console) translate a platform event into one call here and
render what comes back; they hold no course logic. Domain errors are ``CourseError``
subclasses whose message is fit to show a learner.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.content.model import Course, Lab, Lesson, Module, Option, Question, Quiz
from bot.core.store.base import Attempt, LabThread, LearnerRef, Store, StoredAnswer


class CourseError(Exception):
    """A friendly, learner-facing error: bad input that changed nothing."""


class UnknownModule(CourseError):
    pass


class UnknownLesson(CourseError):
    pass


class UnknownLab(CourseError):
    pass


class UnknownQuestion(CourseError):
    pass


class NoTest(CourseError):
    pass


@dataclass(frozen=True, slots=True)
class QuizOutcome:
    """What a learner sees after pressing an option button."""

    question: Question
    chosen: Option  # the option that counts (the first one chosen)
    correct: bool
    already_answered: bool  # True when this press repeated an earlier answer


@dataclass(frozen=True, slots=True)
class TestState:
    """Where a learner is in a module-test attempt."""

    attempt: Attempt
    module: Module
    answers: dict[str, StoredAnswer]
    next_question: Question | None  # None once every question is answered
    position: int  # 1-based number of next_question (or total + 1 when done)
    total: int

    @property
    def finished(self) -> bool:
        return self.next_question is None


@dataclass(frozen=True, slots=True)
class TestResult:
    attempt: Attempt
    score: int
    total: int
    passed: bool
    percent: int
    missed: tuple[tuple[Question, Option], ...]  # each missed question with the option chosen
    best_percent: int
    attempts: int


@dataclass(frozen=True, slots=True)
class LabProgress:
    lab: Lab
    asked: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ModuleProgress:
    module: Module
    lessons_viewed: frozenset[int]
    quiz_correct: dict[int, int]  # lesson -> questions answered correctly (first answers)
    quiz_answered: dict[int, int]  # lesson -> questions answered
    labs: dict[int, LabProgress]
    best_test_percent: int | None
    test_passed: bool
    test_attempts: int


@dataclass(frozen=True, slots=True)
class QuestionStats:
    kind: str  # "quiz" | "test"
    scope: int  # lesson number, or 0 for the test
    question: Question
    answered: int
    share_correct: float  # 0..1, 0 when nobody answered
    option_counts: tuple[int, ...]  # per option index
