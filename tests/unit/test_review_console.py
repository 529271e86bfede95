"""``/review`` in ``coursebot console``, driven over pipes: a missed question comes back on FSRS's schedule.

Between sessions the test moves the stored times back (two minutes pass), the way a learner would wait.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from fsrs import State

from bot.core.content.loader import load_course
from tests.e2e.test_console import Console

COURSE = load_course(Path(__file__).resolve().parents[2] / "content")
QUIZ = COURSE.modules[COURSE.default_module].quizzes[1]

pytestmark = pytest.mark.e2e


def typed(index: int) -> str:
    return str(index + 1)


def wait_two_minutes(db: Path) -> None:
    """Every stored time two minutes earlier: for the review, two minutes have passed."""
    with closing(sqlite3.connect(db)) as conn:
        for table, column in (("quiz_answers", "answered_at"), ("review_cards", "due"),
                              ("review_cards", "reviewed_at"), ("review_answers", "due")):
            rows = conn.execute(f"SELECT id, {column} FROM {table}").fetchall()
            for row_id, when in rows:
                shifted = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%f+00:00', ?, '-2 minutes')", (when,))
                conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (shifted.fetchone()[0], row_id))
        conn.commit()


def card(db: Path) -> tuple[int, dict[str, object]]:
    with closing(sqlite3.connect(db)) as conn:
        reviews, stored = conn.execute("SELECT reviews, card FROM review_cards").fetchone()
    return reviews, json.loads(stored)


async def test_review_in_the_console(tmp_path: Path) -> None:
    console = Console(tmp_path)
    db = tmp_path / "course.db"
    first, *rest = QUIZ.questions
    wrong = next(o.index for o in first.options if not o.correct)
    answers = [typed(wrong)] + [typed(q.correct_option.index) for q in rest]

    session = await console("/quiz 1", *answers, "/review", "/review remind on", "/review remind maybe")
    assert "comes back in 1 minute" in session.stdout
    assert "Reminders on" in session.stdout and "Usage: /review" in session.stdout

    wait_two_minutes(db)
    session = await console("/review", typed(wrong))
    assert "1 question to review now. Type /review" in session.stdout  # said at start: reminders are on
    assert "Review · Lesson 1 quiz (1 due)" in session.stdout and first.prompt in session.stdout
    assert "This question comes back in 1 minute." in session.stdout
    reviews, state = card(db)
    assert reviews == 2 and state["state"] == State.Learning.value and state["step"] == 0

    session = await console("/review")
    assert "Nothing to review now; the next question comes back in 1 minute." in session.stdout

    wait_two_minutes(db)
    session = await console("/review", typed(first.correct_option.index), "/progress")
    assert "This question comes back in 10 minutes." in session.stdout
    assert "Review: Nothing to review now; the next question comes back in 10 minutes." in session.stdout
    reviews, state = card(db)
    assert reviews == 3 and state["step"] == 1
