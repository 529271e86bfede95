"""Numbered migrations on both backends: from an empty database, from every earlier version, atomically, never down.

The SQLite files in ``migrations/`` and their PostgreSQL twins in ``migrations/postgres/`` carry the same numbers
and names; the data-keeping tests run on both (``store_target``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bot.core.store import postgres, store_for
from bot.core.store.base import LabTurn, LearnerRef, StoreError
from bot.core.store.sqlite import (
    MIGRATIONS,
    Migration,
    SchemaError,
    migrate,
    read_migrations,
    schema_version,
)
from tests.postgres import StoreTarget

LATEST = MIGRATIONS[-1].version


def migrations_for(target: StoreTarget) -> tuple[Migration, ...]:
    return postgres.MIGRATIONS if target.backend == "postgres" else MIGRATIONS


async def applied(target: StoreTarget) -> list[tuple[int, str]]:
    return [tuple(row) for row in await target.rows("SELECT version, name FROM schema_version ORDER BY version")]


async def columns(target: StoreTarget, table: str) -> set[str]:
    if target.backend == "sqlite":
        return {row[1] for row in await target.rows(f"PRAGMA table_info({table})")}
    rows = await target.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ?", table)
    return {row[0] for row in rows}


async def build(target: StoreTarget, migrations: list[Migration] | tuple[Migration, ...], seed: str = "") -> None:
    """A database migrated with only ``migrations``, then filled by the ``seed`` script."""
    if target.backend == "postgres":
        db = await asyncpg.connect(target.url)
        try:
            await postgres.migrate(db, migrations)
            if seed:
                await db.execute(seed)
        finally:
            await db.close()
        return
    async with aiosqlite.connect(target.url, isolation_level=None) as db:
        await db.execute("PRAGMA foreign_keys = ON")
        await migrate(db, migrations)
        if seed:
            await db.executescript(seed)


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert LATEST >= 2  # so that upgrading from an earlier version is really tested


def test_every_migration_has_a_postgres_twin_of_the_same_number_and_name() -> None:
    assert [(m.version, m.name) for m in postgres.MIGRATIONS] == [(m.version, m.name) for m in MIGRATIONS]


async def test_empty_database_gets_every_migration(store_target: StoreTarget) -> None:
    store = store_for(store_target.url)
    await store.open()
    await store.close()
    assert await applied(store_target) == [(m.version, m.name) for m in MIGRATIONS]
    assert {"input_tokens", "ttft_ms", "stop_reason", "model"} <= await columns(store_target, "lab_turns")
    assert "seed" in await columns(store_target, "test_attempts")


async def test_reopening_applies_nothing_again(store_target: StoreTarget) -> None:
    store = store_for(store_target.url)
    await store.open()
    await store.close()
    before = await store_target.rows("SELECT version, name, applied_at FROM schema_version ORDER BY version")
    await store.open()
    await store.close()
    assert await store_target.rows("SELECT version, name, applied_at FROM schema_version ORDER BY version") == before


async def test_stores_opening_together_migrate_once(store_target: StoreTarget) -> None:
    stores = [store_for(store_target.url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert await applied(store_target) == [(m.version, m.name) for m in MIGRATIONS]


# Data written by the code of each earlier schema version, in that version's schema.
SEEDS: dict[int, str] = {
    1: """
        INSERT INTO learners (id, platform, workspace, user_id, display_name, created_at)
            VALUES (7, 'slack', 'T1', 'U1', 'Ann', '2026-01-01T10:00:00+00:00');
        INSERT INTO lesson_views (learner_id, module, lesson, viewed_at)
            VALUES (7, 5, 2, '2026-01-01T10:01:00+00:00');
        INSERT INTO quiz_answers (learner_id, module, lesson, question_id, option_index, correct, event_id, answered_at)
            VALUES (7, 5, 2, 'q1', 1, TRUE, 'ev-1', '2026-01-01T10:02:00+00:00');
        INSERT INTO test_attempts (id, learner_id, module, started_at, finished_at, score, total, passed)
            VALUES (3, 7, 5, '2026-01-01T11:00:00+00:00', '2026-01-01T11:10:00+00:00', 13, 15, TRUE);
        INSERT INTO test_attempts (id, learner_id, module, started_at) VALUES (4, 7, 5, '2026-01-02T09:00:00+00:00');
        INSERT INTO test_answers (attempt_id, question_id, option_index, correct, event_id, answered_at)
            VALUES (4, 't1', 0, FALSE, 'ev-2', '2026-01-02T09:01:00+00:00');
        INSERT INTO lab_threads (id, learner_id, module, lab, platform, thread_key, created_at)
            VALUES (9, 7, 5, 1, 'slack', 'C1:1.2', '2026-01-01T12:00:00+00:00');
        INSERT INTO lab_turns (thread_id, event_id, question, answer, status, error, created_at)
            VALUES (9, 'ev-3', 'Why stream?', 'Sooner first words.', 'complete', '', '2026-01-01T12:01:00+00:00');
    """,
}
# Version 2 added the lab turn metrics: the same history, with a measured turn.
SEEDS[2] = SEEDS[1].replace(
    "VALUES (9, 'ev-3', 'Why stream?', 'Sooner first words.', 'complete', '', '2026-01-01T12:01:00+00:00');",
    "VALUES (9, 'ev-3', 'Why stream?', 'Sooner first words.', 'complete', '', '2026-01-01T12:01:00+00:00');\n"
    "        UPDATE lab_turns SET output_tokens = 4, ttft_ms = 310.5, model = 'claude-x' WHERE event_id = 'ev-3';",
)
# Version 3 added answer claims: the same history, the lab turn with the claim it was answered under.
SEEDS[3] = SEEDS[2] + """
        INSERT INTO lab_answers (event_id, thread_id, learner_id, question, status, owner, lease_until, created_at)
            VALUES ('ev-3', 9, 7, 'Why stream?', 'done', 'p1', '2026-01-01T12:02:00+00:00', '2026-01-01T12:00:30+00:00');
"""

# Version 4 added spaced review: the same history, with reminders turned on.
SEEDS[4] = SEEDS[3] + """
        INSERT INTO review_reminders (learner_id, enabled, updated_at) VALUES (7, TRUE, '2026-01-03T08:00:00+00:00');
"""


@pytest.mark.parametrize("version", range(1, LATEST))
async def test_upgrade_from_every_earlier_version_keeps_data(store_target: StoreTarget, version: int) -> None:
    assert version in SEEDS, f"add a SEEDS[{version}] script: data as schema version {version} stored it"
    await build(store_target, migrations_for(store_target)[:version], SEEDS[version])
    assert [v for v, _ in await applied(store_target)] == list(range(1, version + 1))

    store = store_for(store_target.url)
    await store.open()
    try:
        assert [v for v, _ in await applied(store_target)] == list(range(1, LATEST + 1))
        ann = await store.learner_id(LearnerRef("slack", "T1", "U1", "Ann"))
        assert ann == 7
        assert await store.lessons_viewed(ann, 5) == {2}
        assert (await store.quiz_answers(ann, 5))[2, "q1"].option_index == 1
        finished, open_ = await store.attempts(ann, 5)
        assert (finished.score, finished.total, finished.passed) == (13, 15, True)
        assert await store.open_attempt(ann, 5) == open_
        assert (await store.attempt_answers(open_.id))["t1"].correct is False
        thread = await store.lab_thread("slack", "C1:1.2")
        assert thread is not None and thread.learner_id == ann
        measured = {"output_tokens": 4, "ttft_ms": 310.5, "model": "claude-x"} if version >= 2 else {}
        assert await store.lab_turns(thread.id) == [
            LabTurn(question="Why stream?", answer="Sooner first words.", status="complete", **measured)
        ]
        assert await store.answered_turns(ann, 5, 1) == 1
        # The upgraded database takes the latest writes.
        turn = LabTurn(question="TTFT?", answer="Time to first token.", status="complete", output_tokens=9, ttft_ms=8.0)
        assert await store.record_lab_turn(thread.id, "ev-4", turn)
        assert (await store.lab_turns(thread.id))[-1] == turn
    finally:
        await store.close()


async def test_a_failing_migration_changes_nothing(store_target: StoreTarget) -> None:
    migrations = migrations_for(store_target)
    await build(store_target, migrations)
    broken = Migration(LATEST + 1, "broken", "CREATE TABLE extra (a INTEGER);\nINSERT INTO missing VALUES (1);\n")
    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError), match="missing"):
        await build(store_target, [*migrations, broken])
    assert [v for v, _ in await applied(store_target)] == list(range(1, LATEST + 1))
    assert await columns(store_target, "extra") == set()  # the table created before the error was rolled back


async def test_a_failing_sqlite_migration_leaves_no_transaction_open(tmp_path: Path) -> None:
    db_path = tmp_path / "broken.db"
    broken = Migration(LATEST + 1, "broken", "INSERT INTO missing VALUES (1);\n")
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError, match="missing"):
            await migrate(db, [*MIGRATIONS, broken])
        assert await schema_version(db) == LATEST
        assert not db.in_transaction


async def test_statements_split_on_sql_syntax_not_on_every_semicolon(store_target: StoreTarget) -> None:
    script = (
        "-- a comment; not a statement\n"
        "CREATE TABLE notes (body TEXT);\n"
        "INSERT INTO notes VALUES ('a;b');\n"
        "-- end\n"
    )
    await build(store_target, [Migration(1, "notes", script)])
    assert await store_target.rows("SELECT body FROM notes") == [("a;b",)]


async def test_a_newer_database_is_refused(store_target: StoreTarget) -> None:
    await build(
        store_target, migrations_for(store_target),
        f"INSERT INTO schema_version VALUES ({LATEST + 1}, 'future', '2030-01-01T00:00:00+00:00');",
    )
    store = store_for(store_target.url)
    with pytest.raises(SchemaError, match=f"schema version {LATEST + 1}"):
        await store.open()
    with pytest.raises(StoreError, match="not open"):
        await store.lessons_viewed(1, 5)


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["0001_initial.sql", "0003_later.sql"], "without gaps"),
        (["0001_initial.sql", "0001_again.sql"], "without gaps"),
        (["0001_initial.sql", "2_short.sql"], "NNNN_name.sql"),
    ],
)
def test_malformed_migration_folders_are_rejected(tmp_path: Path, names: list[str], problem: str) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(SchemaError, match=problem):
        read_migrations(tmp_path)


def test_other_files_in_the_folder_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "0001_initial.sql").write_text("SELECT 1;\n")
    (tmp_path / "README.md").write_text("How to add a migration.\n")
    assert [m.name for m in read_migrations(tmp_path)] == ["initial"]
