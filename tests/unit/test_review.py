"""Spaced review in the core: which answers enter the review, how FSRS schedules them, serving and answering."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fsrs import Card, State

from bot.core.course import CourseError, CourseService
from bot.core.review import (
    ReviewItem,
    ReviewService,
    ReviewStatus,
    StaleReview,
    button_value,
    reminder_switch,
    status_text,
    when_text,
)
from bot.core.store.base import LearnerRef
from bot.core.store.sqlite import SQLiteStore
from tests.unit.course_factory import learner, make_course, wrong_index


@dataclass
class Clock:
    """Now, moved by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "course.db"


@pytest.fixture
async def course(db_path: Path) -> AsyncIterator[CourseService]:
    store = SQLiteStore(db_path)
    await store.open()
    try:
        yield CourseService(make_course(), store)
    finally:
        await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def review(course: CourseService, clock: Clock) -> ReviewService:
    return ReviewService(course, clock=clock)


def button(item: ReviewItem, option: int) -> str:
    return button_value(item.card, option)


def stale(item: ReviewItem, option: int) -> str:
    """A button of the item as it was shown before one more answer."""
    return f"{item.card.id}:{item.card.reviews + 1}:{option}"


def _set_times(db_path: Path, sql: str, *params: object) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute(sql, params)
        db.commit()


async def _miss_quiz(course: CourseService, who: LearnerRef, question_id: str = "l1-q1", tag: str = "") -> None:
    question = course.quiz(1).question(question_id)
    await course.answer_quiz(who, 1, question_id, wrong_index(question), f"miss-{question_id}{tag}")


async def test_a_missed_quiz_question_comes_back_when_fsrs_says(course: CourseService, review: ReviewService,
                                                                clock: Clock) -> None:
    ann = learner(1)
    right = course.quiz(1).question("l1-q2").correct_option.index
    await course.answer_quiz(ann, 1, "l1-q2", right, "right-1")
    await _miss_quiz(course, ann)

    assert await review.next_item(ann) is None  # FSRS's first learning step: one minute after the miss
    status = await review.status(ann)
    assert (status.due, status.total) == (0, 1)
    missed = (await course.quiz_answers(ann, 1))["l1-q1"]
    assert status.next_due == missed.answered_at + timedelta(minutes=1)

    clock.advance(minutes=2)
    item = await review.next_item(ann)
    assert item is not None and item.question.id == "l1-q1" and item.source == "Lesson 1 quiz"
    assert item.due_count == 1 and item.card.reviews == 1
    stored = Card.from_json(item.card.card)
    assert stored.state == State.Learning and stored.last_review is not None


async def test_review_answers_move_the_card_with_fsrs(course: CourseService, review: ReviewService,
                                                      clock: Clock) -> None:
    ann = learner(1)
    await _miss_quiz(course, ann)
    clock.advance(minutes=2)
    item = await review.next_item(ann)
    assert item is not None
    question = item.question

    wrong = await review.answer(ann, button(item, wrong_index(question)), "ev-1")
    assert not wrong.outcome.correct and not wrong.outcome.already_answered
    assert wrong.next is None  # again: due after FSRS's first learning step, not right away
    assert wrong.next_due == clock.now + timedelta(minutes=1)

    clock.advance(minutes=2)
    item = await review.next_item(ann)
    assert item is not None and item.card.reviews == 2
    right = await review.answer(ann, button(item, question.correct_option.index), "ev-2")
    assert right.outcome.correct and right.outcome.chosen == question.correct_option
    assert right.next_due == clock.now + timedelta(minutes=10)  # good: FSRS's second learning step
    card = await course.store.review_card(item.card.id)
    assert card is not None and card.reviews == 3 and card.due == right.next_due
    assert Card.from_json(card.card).due == right.next_due
    assert (await course.store.review_answer("ev-2")) is not None


async def test_a_repeated_event_shows_the_same_answer_and_a_stale_button_changes_nothing(
    course: CourseService, review: ReviewService, clock: Clock,
) -> None:
    ann = learner(1)
    await _miss_quiz(course, ann)
    clock.advance(minutes=2)
    item = await review.next_item(ann)
    assert item is not None
    first = await review.answer(ann, button(item, wrong_index(item.question)), "ev-1")
    again = await review.answer(ann, button(item, item.question.correct_option.index), "ev-1")
    assert again.outcome.already_answered and again.outcome.chosen == first.outcome.chosen
    with pytest.raises(StaleReview, match="already answered"):
        await review.answer(ann, button(item, 0), "ev-2")
    with pytest.raises(StaleReview, match="not yours"):
        await review.answer(learner(2), stale(item, 0), "ev-3")
    with pytest.raises(CourseError):
        await review.answer(ann, stale(item, 7), "ev-4")
    for forged in ("1:2", "1:x:0", "1:2:3:4", f"{10**20}:1:0", ""):
        with pytest.raises(StaleReview, match="out of date"):
            await review.answer(ann, forged, "ev-5")
    card = await course.store.review_card(item.card.id)
    assert card is not None and card.reviews == 2


async def test_slow_right_test_answers_enter_as_hard_fast_and_away_ones_do_not(
    course: CourseService, review: ReviewService, clock: Clock, db_path: Path,
) -> None:
    ann = learner(1)
    test = course.module().test
    assert test is not None
    attempt = (await course.store.start_attempt(await course.store.learner_id(ann), 5)).id
    for question in test.questions[:3]:
        await course.store.record_test_answer(attempt, question.id, question.correct_option.index, True,
                                              f"t-{question.id}")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    _set_times(db_path, "UPDATE test_attempts SET started_at = ? WHERE id = ?", start.isoformat(), attempt)
    answered = [start + timedelta(seconds=20), start + timedelta(seconds=110), start + timedelta(hours=2)]
    with closing(sqlite3.connect(db_path)) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM test_answers WHERE attempt_id = ? ORDER BY id",
                                            (attempt,))]
        for row_id, when in zip(ids, answered):
            db.execute("UPDATE test_answers SET answered_at = ? WHERE id = ?", (when.isoformat(), row_id))
        db.commit()
        order = [row[0] for row in db.execute("SELECT question_id FROM test_answers ORDER BY id")]

    status = await review.status(ann)
    assert status.total == 1  # 20 s: quick; 90 s after the previous answer: slow; two hours: away
    (card,) = await course.store.review_cards(await course.store.learner_id(ann))
    assert (card.kind, card.scope, card.question_id, card.reviewed_at) == ("test", 0, order[1], answered[1])
    hard = Card.from_json(card.card)
    assert hard.due - answered[1] > timedelta(minutes=1)  # hard waits longer than again


async def _take_test(course: CourseService, who: LearnerRef, wrong: set[str], tag: str) -> None:
    """A finished attempt at the module test, written through the store (its answers are what review reads)."""
    test = course.module().test
    assert test is not None
    learner_id = await course.store.learner_id(who)
    attempt = await course.store.start_attempt(learner_id, 5)
    for question in test.questions:
        choice = wrong_index(question) if question.id in wrong else question.correct_option.index
        await course.store.record_test_answer(attempt.id, question.id, choice, question.id not in wrong,
                                              f"{tag}-{question.id}")
    score = len(test.questions) - len(wrong)
    await course.store.finish_attempt(attempt.id, score, len(test.questions), not wrong)


async def test_a_retaken_test_moves_an_existing_card(course: CourseService, review: ReviewService) -> None:
    ann = learner(1)
    await _take_test(course, ann, {"t1"}, "first")
    assert (await review.status(ann)).total == 1
    assert (await review.status(ann)).total == 1  # reading twice applies nothing twice
    ann_id = await course.store.learner_id(ann)
    (card,) = await course.store.review_cards(ann_id)
    assert (card.kind, card.question_id, card.reviews) == ("test", "t1", 1)

    await _take_test(course, ann, set(), "retake")
    await review.status(ann)
    (moved,) = await course.store.review_cards(ann_id)
    assert moved.reviews == 2 and moved.due > card.due


async def test_reminders_go_once_a_day_to_learners_who_asked(course: CourseService, review: ReviewService,
                                                             clock: Clock) -> None:
    ann, bob, cat = learner(1), learner(2), learner(3)
    for who in (ann, bob, cat):
        await _miss_quiz(course, who, tag=who.user_id)
    await review.set_reminders(ann, True)
    await review.set_reminders(cat, True)
    await review.set_reminders(cat, False)
    assert await review.due_reminders("discord") == []  # nothing due yet

    clock.advance(minutes=2)
    reminders = await review.due_reminders("discord")
    assert [(r.learner.user_id, r.due) for r in reminders] == [("user-1", 1)]
    assert await review.due_reminders("discord") == []
    assert await review.due_reminders("slack") == []
    clock.advance(hours=23)
    assert await review.due_reminders("discord") == []
    clock.advance(hours=2)
    assert [r.learner.user_id for r in await review.due_reminders("discord")] == ["user-1"]
    assert (await review.status(ann)).reminders and not (await review.status(cat)).reminders


async def test_status_of_a_stranger_creates_nobody(course: CourseService, review: ReviewService) -> None:
    status = await review.status(learner(9))
    assert (status.due, status.total, status.reminders) == (0, 0, False)
    assert await review.next_item(learner(9)) is None
    assert await course.store.find_learner(learner(9)) is None


def test_the_reminder_switch_and_the_texts() -> None:
    assert reminder_switch("") is None
    assert reminder_switch("remind ON") is True
    assert reminder_switch(" remind  off ") is False
    for bad in ("remind", "remind maybe", "now please"):
        with pytest.raises(CourseError, match="Usage"):
            reminder_switch(bad)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert when_text(now + timedelta(minutes=10), now) == "in 10 minutes"
    assert when_text(now + timedelta(hours=1), now) == "in 1 hour"
    assert when_text(now + timedelta(days=3, hours=2), now) == "in 3 days"
    assert when_text(now + timedelta(seconds=5), now) == "in under a minute"
    assert status_text(ReviewStatus(2, 3, now, False), now) == "2 questions to review now."
    assert "in 10 minutes" in status_text(ReviewStatus(0, 3, now + timedelta(minutes=10), True), now)
    assert "Nothing to review yet" in status_text(ReviewStatus(0, 0, None, False), now)
