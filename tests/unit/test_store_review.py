"""The review tables, the instructor's aggregates and a learner's data (export, forget), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.store.base import EventIdReused, LabTurn, ReviewAnswer, StageCount, Store
from bot.core.store.learner_tables import LEARNER_TABLES
from tests.postgres import StoreTarget
from tests.unit.course_factory import learner, opened_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    async with opened_store(store_target.url) as opened:
        yield opened


async def _card(store: Store, user: int = 1, question: str = "q1") -> tuple[int, int]:
    learner_id = await store.learner_id(learner(user))
    card = await store.add_review_card(learner_id, 5, "quiz", 2, question, '{"state": 1}', T0, T0)
    return learner_id, card.id


def _answer(card_id: int, event_id: str, *, correct: bool = True) -> ReviewAnswer:
    return ReviewAnswer(card_id=card_id, event_id=event_id, option_index=1, correct=correct,
                        rating="good" if correct else "again", answered_at=T0, due=T0 + timedelta(minutes=10))


async def test_a_card_is_created_once_per_learner_and_question(store: Store) -> None:
    learner_id, card_id = await _card(store)
    again = await store.add_review_card(learner_id, 5, "quiz", 2, "q1", '{"other": 1}', T0 + timedelta(days=1), T0)
    assert again.id == card_id and again.card == '{"state": 1}' and again.reviews == 1
    assert [card.id for card in await store.review_cards(learner_id)] == [card_id]
    stored = await store.review_card(card_id)
    assert stored is not None and stored.due == T0 and stored.reviewed_at == T0 and stored.kind == "quiz"


async def test_an_update_names_the_reviews_it_read(store: Store) -> None:
    _, card_id = await _card(store)
    later = T0 + timedelta(minutes=10)
    assert await store.update_review_card(card_id, 1, '{"state": 2}', later, T0, _answer(card_id, "ev-1"))
    assert not await store.update_review_card(card_id, 1, '{"state": 3}', later, T0, _answer(card_id, "ev-2"))
    card = await store.review_card(card_id)
    assert card is not None and (card.reviews, card.card, card.due) == (2, '{"state": 2}', later)
    assert await store.review_answer("ev-1") == _answer(card_id, "ev-1")
    assert await store.review_answer("ev-2") is None


async def test_concurrent_updates_of_one_card_apply_once(store: Store) -> None:
    _, card_id = await _card(store)
    results = await asyncio.gather(*(
        store.update_review_card(card_id, 1, f'{{"n": {i}}}', T0, T0, _answer(card_id, f"ev-{i}")) for i in range(10)
    ))
    assert sum(results) == 1
    card = await store.review_card(card_id)
    assert card is not None and card.reviews == 2


async def test_a_reused_event_id_changes_nothing(store: Store) -> None:
    _, card_id = await _card(store)
    assert await store.update_review_card(card_id, 1, '{"a": 1}', T0, T0, _answer(card_id, "ev-1"))
    with pytest.raises(EventIdReused):
        await store.update_review_card(card_id, 2, '{"b": 1}', T0, T0, _answer(card_id, "ev-1"))
    card = await store.review_card(card_id)
    assert card is not None and card.reviews == 2 and card.card == '{"a": 1}'


async def test_reminders_are_claimed_once_a_day(store: Store) -> None:
    ann = await store.learner_id(learner(1))
    bob = await store.learner_id(learner(2))
    await store.learner_id(learner(3, platform="slack"))
    assert not await store.review_reminders(ann)
    await store.set_review_reminders(ann, True, T0)
    await store.set_review_reminders(bob, False, T0)
    assert await store.review_reminders(ann) and not await store.review_reminders(bob)
    before = T0 - timedelta(days=1)
    assert [who for who, _ in await store.reminder_candidates("discord", before)] == [ann]
    assert await store.reminder_candidates("slack", before) == []

    claims = await asyncio.gather(*(store.claim_reminder(ann, T0, before) for _ in range(5)))
    assert sum(claims) == 1
    assert await store.reminder_candidates("discord", before) == []
    assert not await store.claim_reminder(bob, T0, before)  # reminders off
    next_day = T0 + timedelta(days=1, minutes=1)
    assert await store.claim_reminder(ann, next_day, next_day - timedelta(days=1))


async def _history(store: Store, user: int, *, view: int, quiz: bool, lab: bool, passed: bool | None) -> int:
    learner_id = await store.learner_id(learner(user))
    await store.record_lesson_view(learner_id, 5, view)
    if quiz:
        await store.record_quiz_answer(learner_id, 5, view, "q1", 0, True, f"quiz-{user}")
    if lab:
        thread = await store.create_lab_thread(learner_id, 5, view, "discord", f"thread-{user}")
        claim = await store.claim_answer(f"lab-{user}", thread.id, learner_id, "Why?", owner="p", lease=30)
        assert claim is not None
        await store.finish_claim(claim.id, LabTurn(question="Why?", answer="Because.", status="complete"))
    if passed is not None:
        attempt = await store.start_attempt(learner_id, 5)
        await store.record_test_answer(attempt.id, "t1", 0, passed, f"test-{user}")
        await store.finish_attempt(attempt.id, int(passed), 1, passed)
    return learner_id


async def test_funnel_counts_distinct_learners_per_stage(store: Store) -> None:
    await _history(store, 1, view=1, quiz=True, lab=True, passed=True)
    await _history(store, 2, view=1, quiz=True, lab=False, passed=False)
    await _history(store, 3, view=1, quiz=False, lab=False, passed=None)
    await _history(store, 4, view=2, quiz=False, lab=True, passed=None)
    assert sorted(await store.funnel(5), key=lambda s: (s.stage, s.number)) == [
        StageCount("lab", 1, 1), StageCount("lab", 2, 1), StageCount("passed", 0, 1),
        StageCount("quiz", 1, 2), StageCount("viewed", 1, 3), StageCount("viewed", 2, 1),
    ]
    assert [s for s in await store.funnel(6) if s.learners] == []


async def test_learner_summaries_hold_every_learner(store: Store) -> None:
    ann = await _history(store, 1, view=1, quiz=True, lab=True, passed=True)
    bob = await _history(store, 2, view=2, quiz=False, lab=False, passed=None)
    await store.add_review_card(bob, 5, "test", 0, "t1", "{}", T0, T0)
    first, second = await store.learner_summaries(5)
    assert (first.learner_id, first.lessons_viewed, first.quiz_answered, first.quiz_correct, first.lab_answers,
            first.test_attempts, first.best_test_percent, first.test_passed, first.review_cards) == (
        ann, 1, 1, 1, 1, 1, 100, True, 0)
    assert (second.learner_id, second.test_attempts, second.best_test_percent, second.test_passed,
            second.review_cards) == (bob, 0, None, False, 1)
    assert (second.platform, second.user_id, second.display_name) == ("discord", "user-2", "Learner 2")


async def test_every_table_is_covered_by_the_learner_tables(store: Store, store_target: StoreTarget) -> None:
    if store_target.backend == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    tables = {row[0] for row in await store_target.rows(sql)} - {"schema_version"}
    assert tables == {table for table, _ in LEARNER_TABLES}


async def test_forget_deletes_every_row_of_one_learner_and_nothing_else(store: Store) -> None:
    ann = await _history(store, 1, view=1, quiz=True, lab=True, passed=True)
    bob = await _history(store, 2, view=1, quiz=True, lab=True, passed=False)
    for who in (ann, bob):
        card = await store.add_review_card(who, 5, "quiz", 1, "q1", "{}", T0, T0)
        await store.update_review_card(card.id, 1, "{}", T0, T0, _answer(card.id, f"review-{who}"))
        await store.set_review_reminders(who, True, T0)
        thread = (await store.lab_threads(who, 5))[0]
        claim = await store.claim_answer(f"rated-{who}", thread.id, who, "And?", owner="p", lease=30)
        assert claim is not None
        await store.finish_claim(claim.id, LabTurn(question="And?", answer="So.", status="complete"))
        await store.set_feedback(claim.id, who, False, "Too vague")
    before = await store.learner_data(ann)
    assert all(before[table] for table, _ in LEARNER_TABLES), {t: len(r) for t, r in before.items()}
    bob_before = await store.learner_data(bob)

    deleted = await store.forget_learner(ann)

    assert deleted == {table: len(rows) for table, rows in before.items()}
    assert all(not rows for rows in (await store.learner_data(ann)).values())
    assert await store.learner_data(bob) == bob_before
    assert await store.find_learner(learner(1)) is None
    assert await store.forget_learner(ann) == {table: 0 for table, _ in LEARNER_TABLES}
