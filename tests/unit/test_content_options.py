"""The shipped quizzes and module tests do not give their answers away, and a test item asks something new.

A learner who picks the longest option should not score well, and the module test should check understanding
rather than replay the quizzes, so these run over the real content and fail if an edit slides back.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from bot.core.content.loader import load_course
from bot.core.content.model import Module, Option, Question

SHIPPED = Path(__file__).resolve().parents[2] / "content"
COURSE = load_course(SHIPPED)
MODULES = [COURSE.modules[number] for number in COURSE.module_numbers]
SAME_STEM = 0.65  # a similarity ratio at or above this reads as the same question, reworded a little


def quiz_questions(module: Module) -> list[Question]:
    return [question for number in sorted(module.quizzes) for question in module.quizzes[number].questions]


def all_questions(module: Module) -> list[Question]:
    return quiz_questions(module) + list(module.test.questions if module.test else ())


def correct_is_longest(question: Question) -> bool:
    """Strictly longer than every distractor: a tie gives nothing away."""
    longest_distractor = max(len(option.label) for option in question.options if not option.correct)
    return len(question.correct_option.label) > longest_distractor


def stem(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", text.lower()))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: f"module-{m.number}")
def test_the_correct_option_is_the_longest_in_at_most_a_third_of_the_items(module: Module) -> None:
    questions = all_questions(module)
    longest = [question.id for question in questions if correct_is_longest(question)]

    assert questions
    assert len(longest) * 3 <= len(questions), f"{len(longest)} of {len(questions)}: {longest}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: f"module-{m.number}")
def test_no_test_item_repeats_a_quiz_stem(module: Module) -> None:
    if module.test is None:
        pytest.skip(f"module {module.number} has no test")
    quiz_stems = {question.id: stem(question.prompt) for question in quiz_questions(module)}
    repeats = [
        (item.id, quiz_id, round(ratio, 2))
        for item in module.test.questions
        for quiz_id, quiz_stem in quiz_stems.items()
        if (ratio := difflib.SequenceMatcher(None, stem(item.prompt), quiz_stem).ratio()) >= SAME_STEM
    ]

    assert not repeats, f"test items that restate a quiz question (test id, quiz id, similarity): {repeats}"


def test_the_shipped_course_has_no_content_warnings() -> None:
    assert COURSE.warnings == ()


def test_a_correct_option_counts_as_longest_only_when_strictly_longer() -> None:
    def question(correct: str, distractor: str) -> Question:
        options = (Option(0, correct, True, "Correct."), Option(1, distractor, False, "Not quite."))
        return Question("q", "Which?", options)

    assert correct_is_longest(question("abcd", "abc"))
    assert not correct_is_longest(question("abc", "abc"))
    assert not correct_is_longest(question("ab", "abc"))
