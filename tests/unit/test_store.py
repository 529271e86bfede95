"""The store on both backends: identity, first-answer-counts, idempotent event ids, append-only history, concurrency.

Every test runs on SQLite and on a real PostgreSQL server (``store_target``); the SQLite-only ones say so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from bot.core.store import store_for
from bot.core.store.base import EventIdReused, LabTurn, LearnerRef, Store, StoreError
from bot.core.store.postgres import PostgresStore
from bot.core.store.sqlite import SQLiteStore
from tests.postgres import PostgresServer, StoreTarget
from tests.unit.course_factory import learner, opened_store


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    async with opened_store(store_target.url) as opened:
        yield opened


def test_the_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(store_for("postgresql://u@127.0.0.1:5432/course"), PostgresStore)
    assert isinstance(store_for("postgres://u@127.0.0.1/course"), PostgresStore)
    assert isinstance(store_for(tmp_path / "course.db"), SQLiteStore)
    assert isinstance(store_for("course.db"), SQLiteStore)


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    async with opened_store(tmp_path / "course.db"):
        with closing(sqlite3.connect(tmp_path / "course.db")) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises((sqlite3.IntegrityError, asyncpg.ForeignKeyViolationError)):
        await store.record_lab_turn(999, "e1", LabTurn(question="q", answer="a", status="complete"))


async def test_not_open_is_a_clear_error(store_target: StoreTarget) -> None:
    with pytest.raises(StoreError, match="not open"):
        await store_for(store_target.url).lessons_viewed(1, 5)


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    db_path = tmp_path / "course.db"
    db_path.write_text("notes, not a database\n" * 100)
    store = SQLiteStore(db_path)

    with pytest.raises(StoreError, match="not a database"):
        await store.open()

    with pytest.raises(StoreError, match="not open"):  # nothing half-open is left behind
        await store.lessons_viewed(1, 5)
    assert db_path.read_text().startswith("notes, not a database")


async def test_a_missing_postgres_database_or_server_is_a_clear_error(postgres_server: PostgresServer) -> None:
    for dsn in (postgres_server.dsn("no_such_database"), "postgresql://coursebot:secret-pw@127.0.0.1:1/course"):
        store = PostgresStore(dsn)
        with pytest.raises(StoreError, match="cannot open the PostgreSQL store") as raised:
            await store.open()
        assert "secret-pw" not in str(raised.value)
        with pytest.raises(StoreError, match="not open"):
            await store.lessons_viewed(1, 5)


async def test_learner_identity_is_platform_workspace_user(store: Store, store_target: StoreTarget) -> None:
    first = await store.learner_id(LearnerRef("discord", "g1", "u1", "Ann"))
    assert await store.learner_id(LearnerRef("discord", "g1", "u1", "Ann")) == first
    others = {
        await store.learner_id(LearnerRef("discord", "g2", "u1", "Ann")),
        await store.learner_id(LearnerRef("slack", "g1", "u1", "Ann")),
        await store.learner_id(LearnerRef("discord", "g1", "u2", "Ann")),
    }
    assert first not in others and len(others) == 3

    assert await store.learner_id(LearnerRef("discord", "g1", "u1", "Annie")) == first
    assert await store.learner_id(LearnerRef("discord", "g1", "u1", "")) == first  # no name: keep the old one
    assert await store_target.value("SELECT COUNT(*) FROM learners") == 4
    assert await store_target.value("SELECT display_name FROM learners WHERE id = ?", first) == "Annie"


async def test_lesson_views_keep_every_view(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    for lesson in (1, 2, 1):
        await store.record_lesson_view(me, 5, lesson)
    await store.record_lesson_view(me, 6, 3)
    assert await store.lessons_viewed(me, 5) == {1, 2}
    assert await store_target.value("SELECT COUNT(*) FROM lesson_views") == 4


async def test_first_quiz_answer_counts(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    first = await store.record_quiz_answer(me, 5, 1, "q1", 2, False, "evt-1")
    assert (first.option_index, first.correct, first.new) == (2, False, True)

    reclick = await store.record_quiz_answer(me, 5, 1, "q1", 0, True, "evt-2")
    assert (reclick.option_index, reclick.correct, reclick.new) == (2, False, False)
    assert reclick.answered_at == first.answered_at

    redelivered = await store.record_quiz_answer(me, 5, 1, "q1", 2, False, "evt-1")
    assert redelivered.new is False
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers") == 1

    other_lesson = await store.record_quiz_answer(me, 5, 2, "q1", 1, True, "evt-3")
    assert other_lesson.new
    answers = await store.quiz_answers(me, 5)
    assert {key: a.option_index for key, a in answers.items()} == {(1, "q1"): 2, (2, "q1"): 1}
    assert await store.quiz_respondents(5, 1) == 1
    assert await store.quiz_respondents(5, 3) == 0


async def test_a_quiz_click_by_a_learner_never_seen_adds_them_with_their_answer(
    store: Store, store_target: StoreTarget
) -> None:
    """``record_quiz_answer_by``: the learner's row and the answer from the platform's reference alone, with
    ``record_quiz_answer``'s rules (the first answer stands; a redelivered event changes nothing)."""
    first = await store.record_quiz_answer_by(learner(1), 5, 1, "q1", 2, False, "evt-1")
    assert (first.option_index, first.correct, first.new) == (2, False, True)
    me = await store.find_learner(learner(1))
    assert me is not None and list(await store.quiz_answers(me, 5)) == [(1, "q1")]

    renamed = dataclasses.replace(learner(1), display_name="Renamed")
    reclick = await store.record_quiz_answer_by(renamed, 5, 1, "q1", 0, True, "evt-2")
    assert (reclick.option_index, reclick.correct, reclick.new) == (2, False, False)
    assert await store_target.value("SELECT display_name FROM learners") == "Renamed"
    redelivered = await store.record_quiz_answer_by(renamed, 5, 1, "q1", 2, False, "evt-1")
    assert (redelivered.option_index, redelivered.new) == (2, False)
    with pytest.raises(EventIdReused):
        await store.record_quiz_answer_by(renamed, 5, 1, "q2", 0, True, "evt-1")
    assert await store_target.value("SELECT COUNT(*) FROM learners") == 1
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers") == 1


async def test_event_id_reused_for_another_answer_is_refused(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    await store.record_quiz_answer(me, 5, 1, "q1", 0, True, "evt-1")
    with pytest.raises(EventIdReused):
        await store.record_quiz_answer(me, 5, 1, "q2", 0, True, "evt-1")
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers") == 1

    attempt = await store.start_attempt(me, 5)
    await store.record_test_answer(attempt.id, "t1", 0, True, "evt-9")
    with pytest.raises(EventIdReused):
        await store.record_test_answer(attempt.id, "t2", 0, True, "evt-9")
    assert list(await store.attempt_answers(attempt.id)) == ["t1"]


async def test_one_open_attempt_and_one_answer_per_question(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    assert await store.open_attempt(me, 5) is None
    attempt = await store.start_attempt(me, 5)
    assert await store.start_attempt(me, 5) == attempt
    assert await store.open_attempt(me, 5) == attempt
    assert await store.attempt(attempt.id) == attempt
    assert await store.attempt(attempt.id + 100) is None

    assert (await store.record_test_answer(attempt.id, "t1", 1, False, "a")).new
    again = await store.record_test_answer(attempt.id, "t1", 0, True, "b")
    assert (again.option_index, again.new) == (1, False)

    done = await store.finish_attempt(attempt.id, 1, 15, False)
    assert (done.score, done.total, done.passed) == (1, 15, False) and done.finished_at is not None
    assert await store.finish_attempt(attempt.id, 15, 15, True) == done  # idempotent: unchanged
    assert await store.open_attempt(me, 5) is None

    retake = await store.start_attempt(me, 5)
    assert retake.id != attempt.id
    assert (await store.record_test_answer(retake.id, "t1", 0, True, "c")).new
    assert [a.id for a in await store.attempts(me, 5)] == [attempt.id, retake.id]
    assert await store_target.value("SELECT COUNT(*) FROM test_answers") == 2


async def test_concurrent_start_attempt_makes_one(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    attempts = await asyncio.gather(*(store.start_attempt(me, 5) for _ in range(20)))
    assert len({a.id for a in attempts}) == 1
    assert await store_target.value("SELECT COUNT(*) FROM test_attempts") == 1


async def test_one_event_delivered_many_times_at_once_is_recorded_once(store: Store, store_target: StoreTarget) -> None:
    """Redeliveries racing each other all get the answer that stands; none is refused as a reused event id."""
    me = await store.learner_id(learner(1))
    for round_ in range(5):
        event = f"evt-{round_}"
        results = await asyncio.gather(*(store.record_quiz_answer(me, 5, 1, f"q{round_}", 1, False, event)
                                         for _ in range(20)))
        assert sum(r.new for r in results) == 1 and {r.option_index for r in results} == {1}
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers") == 5


async def test_200_concurrent_answers_from_50_learners_recorded_once(store: Store, store_target: StoreTarget) -> None:
    """Each of 200 answers arrives twice with its event id, plus a re-click with a new id and another option."""
    learners = [learner(n) for n in range(50)]
    questions = ["q1", "q2", "q3", "q4"]

    async def answer(who: LearnerRef, question: str, option: int, event_id: str):
        return (who.user_id, question), await store.record_quiz_answer(
            await store.learner_id(who), 5, 1, question, option, option == 0, event_id
        )

    calls = []
    for who in learners:
        for question in questions:
            event = f"{who.user_id}:{question}"
            calls += [answer(who, question, 0, event), answer(who, question, 0, event)]
            calls.append(answer(who, question, 1, event + ":again"))
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*calls)

    assert await store_target.value("SELECT COUNT(*) FROM learners") == 50
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers") == 200
    assert await store_target.value("SELECT COUNT(DISTINCT learner_id || ':' || question_id) FROM quiz_answers") == 200
    by_key: dict[tuple[str, str], list] = {}
    for key, stored in results:
        by_key.setdefault(key, []).append(stored)
    for key, stored in by_key.items():
        assert sum(s.new for s in stored) == 1, key  # exactly one press was recorded
        assert len({s.option_index for s in stored}) == 1, key  # every press sees the answer that stands


async def test_lab_threads_and_turns(store: Store, store_target: StoreTarget) -> None:
    me = await store.learner_id(learner(1))
    thread = await store.create_lab_thread(me, 5, 2, "slack", "C1:1700000000.000100")
    assert await store.create_lab_thread(me, 5, 2, "slack", "C1:1700000000.000100") == thread
    assert await store.lab_thread("slack", "C1:1700000000.000100") == thread
    assert await store.lab_thread("discord", "C1:1700000000.000100") is None
    other = await store.create_lab_thread(me, 5, 1, "slack", "C1:1700000000.000200")
    assert await store.lab_threads(me, 5) == [thread, other]

    full = LabTurn(
        question="Why stream?", answer="Because…", status="complete", input_tokens=120, output_tokens=300,
        cache_read_tokens=50, cache_write_tokens=10, ttft_ms=412.5, duration_ms=2100.0, stop_reason="end_turn",
        model="claude-haiku-5-5",
    )
    failed = LabTurn(question="And?", answer="", status="failed", error="overloaded")
    assert await store.record_lab_turn(thread.id, "m1", full)
    assert not await store.record_lab_turn(thread.id, "m1", full)
    assert await store.record_lab_turn(thread.id, "m2", failed)
    assert await store.lab_turns(thread.id) == [full, failed]
    assert await store_target.value("SELECT COUNT(*) FROM lab_turns") == 2


async def test_history_survives_reopen(store_target: StoreTarget) -> None:
    first = store_for(store_target.url)
    await first.open()
    me = await first.learner_id(learner(1))
    await first.record_lesson_view(me, 5, 3)
    await first.record_quiz_answer(me, 5, 3, "q1", 1, True, "e1")
    attempt = await first.start_attempt(me, 5)
    await first.record_test_answer(attempt.id, "t1", 2, False, "e2")
    await first.close()
    await first.close()  # closing twice is harmless

    second = store_for(store_target.url)
    await second.open()
    try:
        assert await second.learner_id(learner(1)) == me
        assert await second.lessons_viewed(me, 5) == {3}
        assert (await second.quiz_answers(me, 5))[3, "q1"].option_index == 1
        assert await second.open_attempt(me, 5) == attempt
        assert (await second.attempt_answers(attempt.id))["t1"].option_index == 2
    finally:
        await second.close()


async def test_option_counts_use_first_answers_and_first_attempts(store: Store) -> None:
    ann, bob = await store.learner_id(learner(1)), await store.learner_id(learner(2))
    await store.record_quiz_answer(ann, 5, 1, "q1", 0, True, "a1")
    await store.record_quiz_answer(ann, 5, 1, "q1", 1, False, "a2")  # re-click: not counted
    await store.record_quiz_answer(bob, 5, 1, "q1", 1, False, "b1")
    await store.record_quiz_answer(bob, 6, 1, "q1", 1, False, "b2")  # another module

    first = await store.start_attempt(ann, 5)
    await store.record_test_answer(first.id, "t1", 2, False, "a3")
    await store.finish_attempt(first.id, 0, 1, False)
    retake = await store.start_attempt(ann, 5)
    await store.record_test_answer(retake.id, "t1", 0, True, "a4")  # a retake: not counted
    bobs = await store.start_attempt(bob, 5)
    await store.record_test_answer(bobs.id, "t1", 2, False, "b3")

    counts = {
        (c.kind, c.scope, c.question_id, c.option_index, c.correct): c.count for c in await store.option_counts(5)
    }
    assert counts == {
        ("quiz", 1, "q1", 0, True): 1,
        ("quiz", 1, "q1", 1, False): 1,
        ("test", 0, "t1", 2, False): 2,
    }


async def test_cancelled_writes_leave_no_transaction_open(store: Store, store_target: StoreTarget) -> None:
    """A caller cancelled at any point of a write (BEGIN, INSERT, SELECT, COMMIT) leaves the store usable."""
    me = await store.learner_id(learner(1))
    recorded = set()
    for step in range(12):
        task = asyncio.create_task(store.record_quiz_answer(me, 5, 1, f"q{step}", 0, True, f"e{step}"))
        for _ in range(step):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            recorded.add(f"q{step}")
        except asyncio.CancelledError:
            pass
    await store.record_quiz_answer(me, 5, 2, "after", 0, True, "after")
    # Seen from another connection: the last write was committed, not left in a dangling transaction.
    assert await store_target.value("SELECT COUNT(*) FROM quiz_answers WHERE question_id = 'after'") == 1
    on_disk = {row[0] for row in await store_target.rows("SELECT question_id FROM quiz_answers WHERE lesson = 1")}
    assert recorded <= on_disk


async def test_a_postgres_store_opens_its_whole_pool_at_start(postgres_server: PostgresServer) -> None:
    """A class asking at once must not pay for opening connections in the second its clicks arrive."""
    dsn = await postgres_server.create_database()
    store = PostgresStore(dsn)
    await store.open()
    try:
        assert store._pool is not None and store._pool.get_size() == store.max_size
    finally:
        await store.close()
        await postgres_server.drop_database(dsn)


async def test_a_quiz_click_on_postgres_is_one_round_trip(
    postgres_server: PostgresServer,
) -> None:
    """A quiz click is one statement and nothing else: asyncpg's default reset (``RESET ALL``, ``UNLISTEN *``
    …) would add a round trip to every use of the pool, and this store leaves no session state to reset."""
    dsn = await postgres_server.create_database()
    store = PostgresStore(dsn, min_size=1, max_size=1)
    await store.open()
    try:
        sent: list[str] = []
        async with store._pool.acquire() as db:  # the pool's only connection
            db.add_query_logger(lambda logged: sent.append(logged.query))
        await store.record_quiz_answer_by(learner(1), 5, 1, "q1", 2, False, "evt-1")
        assert len(sent) == 1 and not [query for query in sent if "RESET" in query.upper()]
    finally:
        await store.close()
        await postgres_server.drop_database(dsn)
