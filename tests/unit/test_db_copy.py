"""``coursebot db migrate`` and ``coursebot db copy``: a SQLite deployment moves to PostgreSQL without losing a row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner, Result

from bot.core.store.base import LabTurn, LessonSource, ReviewAnswer, Store
from bot.core.store.copy import TABLES
from bot.db_cli import db_app
from tests.postgres import StoreTarget
from tests.unit.course_factory import learner, opened_store


async def _cli(*args: str) -> Result:
    """The ``db`` commands as a user runs them (each in its own event loop, like the real command)."""
    return await asyncio.to_thread(CliRunner().invoke, db_app, list(args))


async def _fill(store: Store) -> None:
    """A small but complete deployment: every table has rows, and ids that do not start at 1."""
    for n in range(1, 4):
        await store.learner_id(learner(100 + n))  # learners 1..3 never answer: ids of the others are not 1, 2
    for n in range(1, 6):
        me = await store.learner_id(learner(n))
        await store.record_lesson_view(me, 5, n % 3)
        await store.record_quiz_answer(me, 5, 1, "q1", n % 3, n % 3 == 0, f"quiz-{n}")
        attempt = await store.start_attempt(me, 5, seed=n)
        await store.record_test_answer(attempt.id, "t1", 1, n % 2 == 0, f"test-{n}")
        if n % 2:
            await store.finish_attempt(attempt.id, n, 15, n > 3)
        thread = await store.create_lab_thread(me, 5, 1, "slack", f"C{n}:1.{n}")
        await store.record_lab_turn(thread.id, f"turn-{n}", LabTurn(
            question=f"Q{n}?", answer="A.", status="complete", output_tokens=n, ttft_ms=n * 1.5, model="m",
        ))
        claim = await store.claim_answer(f"claim-{n}", thread.id, me, f"Again {n}?", owner="p1", lease=30)
        assert claim is not None
        await store.renew_claim(claim.id, owner="p1", lease=30, message_ids=["m1"], shown="Par ▌", answer="Part")
        if n % 2:
            await store.finish_claim(claim.id, LabTurn(question=f"Again {n}?", answer="Done.", status="complete",
                                                       sources=(LessonSource(1, f"Section {n}"),)))
            await store.set_feedback(claim.id, me, n == 1, "" if n == 1 else f"Reason {n}")
        when = datetime(2026, 3, n, 9, 30, 15, 250000, tzinfo=UTC)
        card = await store.add_review_card(me, 5, "quiz", 1, "q1", '{"step": 0}', when, when)
        due = when + timedelta(minutes=10)
        await store.update_review_card(card.id, 1, '{"step": 1}', due, when, ReviewAnswer(
            card_id=card.id, event_id=f"review-{n}", option_index=1, correct=True, rating="good", answered_at=when,
            due=due,
        ))
        await store.set_review_reminders(me, n % 2 == 1, when)


async def _everything(target: StoreTarget) -> dict[str, list[tuple]]:
    """Every row of every table, normalised (booleans and times compare across the two backends)."""
    everything = {}
    for table in TABLES:
        rows = await target.rows(f"SELECT * FROM {table} ORDER BY id")
        everything[table] = [tuple(str(value) if not isinstance(value, int | float | str) else value
                                   for value in row) for row in rows]
    return everything


async def _protocol_view(store: Store) -> list[object]:
    """What the bot reads back through the protocol for each learner."""
    seen: list[object] = []
    for n in range(1, 6):
        me = await store.learner_id(learner(n))
        seen += [me, await store.lessons_viewed(me, 5), await store.quiz_answers(me, 5), await store.attempts(me, 5)]
        for thread in await store.lab_threads(me, 5):
            seen += [thread, await store.lab_turns(thread.id)]
        seen += [await store.review_cards(me), await store.review_reminders(me)]
    seen += [await store.unhelpful_answers(5)]
    seen += [await store.expired_claims(), await store.option_counts(5)]
    return seen


async def test_a_sqlite_deployment_moves_to_postgres_without_losing_a_row(tmp_path: Path, postgres_dsn: str) -> None:
    source = StoreTarget(str(tmp_path / "course.db"))
    async with opened_store(source.url) as store:
        await _fill(store)
        before = await _protocol_view(store)

    migrated = await _cli("migrate", "--db", postgres_dsn)
    assert migrated.exit_code == 0, migrated.output
    copied = await _cli("copy", "--from", source.url, "--to", postgres_dsn)
    assert copied.exit_code == 0, copied.output
    assert "lab_answers: 5 rows" in copied.output

    destination = StoreTarget(postgres_dsn)
    source_rows, destination_rows = await _everything(source), await _everything(destination)
    assert all(source_rows[table] for table in TABLES)  # the deployment really filled every table
    for table in TABLES:
        assert len(destination_rows[table]) == len(source_rows[table]), table
        assert [row[0] for row in destination_rows[table]] == [row[0] for row in source_rows[table]], table  # ids kept
    async with opened_store(postgres_dsn) as store:
        assert await _protocol_view(store) == before
        # the identity sequences moved past the copied ids: new rows get new ids
        newcomer = await store.learner_id(learner(99))
        assert newcomer == max(row[0] for row in source_rows["learners"]) + 1
        me = await store.learner_id(learner(1))
        thread = await store.create_lab_thread(me, 5, 2, "slack", "C9:9.9")
        assert thread.id not in {row[0] for row in source_rows["lab_threads"]}


async def test_copying_into_a_database_that_holds_data_is_refused_and_changes_nothing(
    tmp_path: Path, postgres_dsn: str,
) -> None:
    source = str(tmp_path / "course.db")
    async with opened_store(source) as store:
        await _fill(store)
    assert (await _cli("copy", "--from", source, "--to", postgres_dsn)).exit_code == 0
    before = await _everything(StoreTarget(postgres_dsn))

    again = await _cli("copy", "--from", source, "--to", postgres_dsn)
    assert again.exit_code == 1
    assert "already holds data" in again.output
    assert await _everything(StoreTarget(postgres_dsn)) == before


async def test_bad_copy_arguments_are_clear_errors(tmp_path: Path, postgres_dsn: str) -> None:
    missing = await _cli("copy", "--from", str(tmp_path / "nothing.db"), "--to", postgres_dsn)
    assert missing.exit_code == 1 and "existing SQLite file" in missing.output
    assert not (tmp_path / "nothing.db").exists()

    secret = postgres_dsn.replace("coursebot@", "coursebot:hunter2@")
    swapped = await _cli("copy", "--from", secret, "--to", str(tmp_path / "x.db"))
    assert swapped.exit_code == 1 and "--from must be an existing SQLite file" in swapped.output
    assert "hunter2" not in swapped.output and "***" in swapped.output


async def test_migrate_reports_an_unreachable_server_without_its_password() -> None:
    result = await _cli("migrate", "--db", "postgresql://coursebot:hunter2@127.0.0.1:1/course")
    assert result.exit_code == 1
    assert "cannot open the PostgreSQL store" in result.output and "hunter2" not in result.output
