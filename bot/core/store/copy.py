"""``coursebot db copy``: move a SQLite deployment's whole history into an empty PostgreSQL database.

Both databases are first migrated to the latest schema (the numbered migrations of each dialect), then every
table is copied in one PostgreSQL transaction, parents before children, ids included, so every reference
(learner, attempt, thread) still points at the same row. The identity sequences are then moved past the
highest copied id, so new rows never collide with copied ones. Values are converted by the destination's
column types (ISO text to TIMESTAMPTZ, 0/1 to BOOLEAN). Nothing is written when the destination already holds
data, and the row counts are compared before the transaction commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bot.core.store import is_postgres, redacted
from bot.core.store.base import StoreError
from bot.core.store.postgres import PostgresStore
from bot.core.store.sqlite import SQLiteStore

# Parents before children (foreign keys).
TABLES = (
    "learners", "lesson_views", "quiz_answers", "test_attempts", "test_answers", "lab_threads", "lab_turns",
    "lab_answers", "answer_feedback", "review_cards", "review_answers", "review_reminders",
)


class CopyError(StoreError):
    """The copy was refused (bad source or destination); nothing was written."""


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {"timestamp with time zone": _timestamp, "boolean": _flag}


async def copy_sqlite_to_postgres(source: str | Path, destination: str) -> dict[str, int]:
    """Copy every row of the SQLite file ``source`` into the empty PostgreSQL ``destination``; rows per table."""
    if is_postgres(source) or not Path(source).is_file():
        raise CopyError(f"--from must be an existing SQLite file, not {redacted(source)!r}")
    if not is_postgres(destination):
        raise CopyError(f"--to must be a postgresql:// URL, not {redacted(destination)!r}")
    for store in (SQLiteStore(source), PostgresStore(destination, min_size=1, max_size=1)):
        await store.open()  # brings both to the latest schema
        await store.close()
    db = await asyncpg.connect(destination)
    try:
        return await _copy(Path(source), db)
    finally:
        await db.close()


async def _copy(source: Path, db: asyncpg.Connection) -> dict[str, int]:
    tables = {row[0] for row in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_name <> 'schema_version'"
    )}
    if unknown := tables - set(TABLES):
        raise CopyError(f"the schema has tables the copy does not know: {sorted(unknown)}")
    copied: dict[str, int] = {}
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as sqlite:
        async with db.transaction():
            for table in TABLES:
                if await db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    raise CopyError(f"the destination already holds data (table {table}): copy into an empty database")
                copied[table] = await _copy_table(sqlite, db, table)
            for table in TABLES:
                stored = await db.fetchval(f"SELECT COUNT(*) FROM {table}")
                if stored != copied[table]:  # rolls the whole copy back
                    raise CopyError(f"{table}: {copied[table]} rows read but {stored} stored")
                await db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL)"
                    f" FROM {table}"
                )
    return copied


async def _copy_table(sqlite: sqlite3.Connection, db: asyncpg.Connection, table: str) -> int:
    """Copy one table's rows (the destination's columns, converted to its types); how many."""
    types = [(row["column_name"], row["data_type"]) for row in await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )]
    names = [name for name, _ in types]
    converters = [_CONVERT.get(data_type) for _, data_type in types]
    rows = [
        tuple(value if convert is None else convert(value) for value, convert in zip(row, converters, strict=True))
        for row in sqlite.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY id")
    ]
    if rows:
        await db.copy_records_to_table(table, records=rows, columns=names)
    return len(rows)
