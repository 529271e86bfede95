"""``coursebot check``: validate the content and print what it holds, or every problem."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.core.content.loader import ContentError, load_course
from bot.core.content.model import Course, Module


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _module_counts(module: Module) -> tuple[int, int, int, int]:
    """Lessons, quiz questions, labs and test questions of one module."""
    quiz_questions = sum(len(quiz.questions) for quiz in module.quizzes.values())
    test_questions = len(module.test.questions) if module.test else 0
    return len(module.lessons), quiz_questions, len(module.labs), test_questions


def _describe(lessons: int, quiz_questions: int, labs: int, test_questions: int) -> str:
    return ", ".join(
        (
            _count(lessons, "lesson"),
            _count(quiz_questions, "quiz question"),
            _count(labs, "lab"),
            _count(test_questions, "test question"),
        )
    )


def summary(course: Course) -> list[str]:
    """The lines ``coursebot check`` prints for valid content."""
    per_module = {number: _module_counts(module) for number, module in course.modules.items()}
    totals = [sum(column) for column in zip(*per_module.values(), strict=True)] or [0, 0, 0, 0]
    lines = [f"OK: {_count(len(course.modules), 'module')}, {_describe(*totals)}"]
    for number in course.module_numbers:
        module = course.modules[number]
        default = " (default)" if number == course.default_module else ""
        test = f", pass mark {module.test.pass_mark:.0%}" if module.test else ", no test"
        lines.append(
            f"  Module {number}: {module.title} [{module.folder}]{default}: {_describe(*per_module[number])}{test}"
        )
    return lines


def run_check(path: Path) -> int:
    """Print the summary and return 0, or print every problem to stderr and return 1.

    Warnings (valid content worth a second look) go to stderr too, but do not fail the check.
    """
    try:
        course = load_course(path)
    except ContentError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        found = _count(len(error.errors), "problem")
        print(f"{found} in {path}; fix them and run coursebot check again.", file=sys.stderr)
        return 1
    print("\n".join(summary(course)))
    for line in course.warnings:
        print(line, file=sys.stderr)
    return 0
