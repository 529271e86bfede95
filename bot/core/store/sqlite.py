"""``SQLiteStore``: the ``Store`` protocol on one aiosqlite connection.

The database runs in WAL mode with foreign keys on and a busy timeout, so a second process
(a backup, the CLI) can read while the bot writes. The single connection is shared by every
coroutine behind an ``asyncio.Lock``; statements that belong together run in one
``BEGIN IMMEDIATE`` transaction, so concurrent callers never see each other's half-done work.

Idempotency lives in the schema, not in Python: every event-driven write is
``INSERT ... ON CONFLICT DO NOTHING`` against UNIQUE constraints (the event id, and the
"first answer counts" key), followed by a read of the row that stands. A double click, a
redelivered event or a race between two coroutines therefore records exactly one row.

Schema changes are numbered files in ``migrations/`` (``NNNN_name.sql``, shipped as package
data). ``open()`` applies the pending ones in order, each in its own transaction together with
its row in ``schema_version``; a failing migration leaves the database as it was.

A PostgreSQL backend would implement the same ``Store`` protocol in a sibling module
(e.g. ``postgres.py`` on asyncpg or psycopg) with the same queries: all SQL here and in the
migrations is portable (``ON CONFLICT ... DO NOTHING``/``DO UPDATE``, partial unique indexes,
``ALTER TABLE ... ADD COLUMN``, no ``INSERT OR IGNORE``, ``AUTOINCREMENT`` or ``rowid``, no
SQLite functions). It would change only the placeholders (``?`` to ``$n``), use
``RETURNING id`` (already used here) and, in its own copy of the migrations, the column types
(``BIGINT GENERATED ALWAYS AS IDENTITY``, ``TIMESTAMPTZ``). Callers see only the protocol and
its row types, so nothing outside this module would change.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.core.store.base import (
    AnswerClaim,
    AnswerFeedback,
    Attempt,
    EventIdReused,
    FinishedAnswer,
    LabThread,
    LabTurn,
    LearnerRef,
    LearnerSummary,
    OptionCount,
    ReviewAnswer,
    ReviewCard,
    ReviewKind,
    StageCount,
    StoredAnswer,
    StoreError,
    UnhelpfulAnswer,
    sources_from_json,
    sources_json,
)
from bot.core.store.feedback_sql import SET_FEEDBACK, UNHELPFUL_ANSWERS
from bot.core.store.learner_tables import LEARNER_TABLES
from bot.core.store.reports import FUNNEL, LEARNER_SUMMARIES

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaError(StoreError):
    """The migrations are malformed, or the database is newer than this code."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def statements(self) -> list[str]:
        """The script cut into single statements (``sqlite3.complete_statement`` knows SQL syntax)."""
        statements: list[str] = []
        pending = ""
        for line in self.sql.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                statements.append(pending.strip())
                pending = ""
        if pending.strip():  # a trailing comment, or an unterminated statement that will fail loudly
            statements.append(pending.strip())
        return statements


def read_migrations(folder: Traversable) -> tuple[Migration, ...]:
    """The folder's ``NNNN_name.sql`` files in order; versions must run 1, 2, 3 ... without gaps."""
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise SchemaError(f"migration file {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migration versions must be 1..{len(found)} without gaps or repeats, found {versions}")
    return tuple(found)


MIGRATIONS = read_migrations(files(__package__) / "migrations")

_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


async def schema_version(db: aiosqlite.Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    await db.execute(_SCHEMA_VERSION_TABLE)
    rows = await db.execute_fetchall("SELECT MAX(version) FROM schema_version")
    return next(iter(rows))[0] or 0


async def migrate(db: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the pending migrations, each in one transaction; return the versions applied.

    ``db`` must be in autocommit mode (``isolation_level=None``). A database whose version is
    higher than the last migration known here is refused rather than guessed at.
    """
    latest = migrations[-1].version if migrations else 0
    current = await schema_version(db)
    if current > latest:
        raise SchemaError(
            f"the database is at schema version {current}, newer than this coursebot knows ({latest}); "
            "upgrade coursebot or use a matching database"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= current:
            continue
        try:
            await db.execute("BEGIN IMMEDIATE")
            # Another process may have migrated while this one waited for the write lock.
            if await schema_version(db) >= migration.version:
                await db.rollback()
                continue
            for statement in migration.statements:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, _now()),
            )
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        applied.append(migration.version)
    return applied


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


Row = TypeVar("Row")


def _columns(model: type[Any], *, skip: tuple[str, ...] = ()) -> str:
    """The row type's fields as a column list: every table names its columns like the fields."""
    return ", ".join(field.name for field in fields(model) if field.name not in skip)


def _from_row(model: type[Row], row: sqlite3.Row, convert: dict[str, Callable[[Any], Any]], **extra: Any) -> Row:
    """Build ``model`` from the row's columns named like its fields (``convert`` parses some of them)."""
    present = set(row.keys())
    values = {field.name: row[field.name] for field in fields(model) if field.name in present}
    for name, parse in convert.items():
        values[name] = parse(values[name])
    return model(**values, **extra)


_ANSWER_COLUMNS = _columns(StoredAnswer, skip=("new",))
_ATTEMPT_COLUMNS = _columns(Attempt)
_THREAD_COLUMNS = _columns(LabThread)
_TURN_COLUMNS = _columns(LabTurn)
_CLAIM_COLUMNS = _columns(AnswerClaim)
_REVIEW_CARD_COLUMNS = _columns(ReviewCard)
_REVIEW_ANSWER_COLUMNS = _columns(ReviewAnswer)
_FEEDBACK_COLUMNS = _columns(AnswerFeedback)


def _answer(row: sqlite3.Row, *, new: bool) -> StoredAnswer:
    return _from_row(StoredAnswer, row, {"correct": bool, "answered_at": datetime.fromisoformat}, new=new)


def _attempt(row: sqlite3.Row) -> Attempt:
    return _from_row(Attempt, row, {"started_at": datetime.fromisoformat, "finished_at": _when, "passed": _flag})


def _thread(row: sqlite3.Row) -> LabThread:
    return _from_row(LabThread, row, {"created_at": datetime.fromisoformat})


def _turn(row: sqlite3.Row) -> LabTurn:
    return _from_row(LabTurn, row, {"sources": sources_from_json})


def _turn_values(turn: LabTurn) -> list[Any]:
    """The turn's column values as stored (its sources as JSON)."""
    return [sources_json(turn.sources) if f.name == "sources" else getattr(turn, f.name) for f in fields(LabTurn)]


def _claim(row: sqlite3.Row) -> AnswerClaim:
    return _from_row(AnswerClaim, row, {
        "lease_until": datetime.fromisoformat, "created_at": datetime.fromisoformat,
        "message_ids": lambda text: tuple(json.loads(text)),
    })


def _review_card(row: sqlite3.Row) -> ReviewCard:
    return _from_row(ReviewCard, row, {"due": datetime.fromisoformat, "reviewed_at": datetime.fromisoformat})


def _review_answer(row: sqlite3.Row) -> ReviewAnswer:
    return _from_row(ReviewAnswer, row, {
        "correct": bool, "answered_at": datetime.fromisoformat, "due": datetime.fromisoformat,
    })


def _feedback(row: sqlite3.Row) -> AnswerFeedback:
    return _from_row(AnswerFeedback, row, {"helpful": bool, "updated_at": datetime.fromisoformat})


def _iso(when: datetime) -> str:
    """A time as stored: ISO 8601 in UTC (so that text order is time order)."""
    return when.astimezone(UTC).isoformat()


def _later(now: datetime, seconds: float) -> str:
    return (now + timedelta(seconds=seconds)).isoformat()


class SQLiteStore:
    """The course's storage in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect (WAL, foreign keys, busy timeout) and apply pending migrations; a no-op when open.

        A file that SQLite cannot use (not a database, corrupt, locked, read-only) raises ``StoreError``.
        """
        async with self._lock:
            if self._db is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = await self._connect()
            except sqlite3.Error as error:
                raise StoreError(f"{error} ({self.path})") from error

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)  # transactions are explicit
        try:
            db.row_factory = sqlite3.Row
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")  # takes no parameters
            await self._wal(db)
            await db.execute("PRAGMA foreign_keys = ON")
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return db

    async def _wal(self, db: aiosqlite.Connection) -> None:
        """Switch the file to WAL. The switch needs the file to itself and SQLite's busy timeout does not wait
        for it: processes opening a new database together retry it for up to that timeout."""
        deadline = asyncio.get_running_loop().time() + self.busy_timeout
        while True:
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, held exclusively (single statements are atomic on their own)."""
        async with self._lock:
            if self._db is None:
                raise StoreError("the store is not open")
            yield self._db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection inside one write transaction, committed on success, rolled back on error."""
        async with self._connection() as db:
            try:
                # BEGIN inside the try: if the caller is cancelled while BEGIN is queued, it still
                # runs on aiosqlite's thread, and the rollback queued after it ends the transaction.
                await db.execute("BEGIN IMMEDIATE")
                yield db
            except BaseException:
                await db.rollback()
                raise
            await db.commit()

    @staticmethod
    async def _rows(db: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await db.execute_fetchall(sql, tuple(params)))

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One read on the shared connection."""
        async with self._connection() as db:
            return await self._rows(db, sql, params)

    @staticmethod
    async def _changes(db: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> int:
        """Run a write; the number of rows it changed (0 when ON CONFLICT DO NOTHING fired)."""
        cursor = await db.execute(sql, tuple(params))
        changed = cursor.rowcount
        await cursor.close()
        return changed

    async def _record_answer(
        self, table: str, key: dict[str, Any], option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        """Insert an answer unless one already stands for ``key``; return the one that stands.

        Nothing standing afterwards means the insert hit the UNIQUE event id: that event
        recorded a different answer, so this one is refused.
        """
        where = " AND ".join(f"{column} = ?" for column in key)
        async with self._transaction() as db:
            new = await self._changes(
                db,
                f"INSERT INTO {table} ({', '.join(key)}, option_index, correct, event_id, answered_at)"
                f" VALUES ({', '.join('?' * (len(key) + 4))}) ON CONFLICT DO NOTHING",
                (*key.values(), option_index, correct, event_id, _now()),
            )
            rows = await self._rows(db, f"SELECT {_ANSWER_COLUMNS} FROM {table} WHERE {where}", key.values())
            if not rows:
                raise EventIdReused(f"event {event_id!r} already recorded another answer")
        return _answer(rows[0], new=bool(new))

    # Learners and lessons

    async def learner_id(self, learner: LearnerRef) -> int:
        key = (learner.platform, learner.workspace, learner.user_id)
        async with self._connection() as db:
            rows = await self._rows(
                db, "SELECT id, display_name FROM learners WHERE platform = ? AND workspace = ? AND user_id = ?", key
            )
            if rows and (not learner.display_name or rows[0]["display_name"] == learner.display_name):
                return rows[0]["id"]
            # New learner, or a new display name: one upsert (a concurrent insert of the same
            # learner lands on the UNIQUE key and becomes an update).
            rows = await self._rows(
                db,
                "INSERT INTO learners (platform, workspace, user_id, display_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET display_name ="
                " CASE WHEN excluded.display_name = '' THEN learners.display_name ELSE excluded.display_name END"
                " RETURNING id",
                (*key, learner.display_name, _now()),
            )
            return rows[0]["id"]

    async def find_learner(self, learner: LearnerRef) -> int | None:
        rows = await self._fetch(
            "SELECT id FROM learners WHERE platform = ? AND workspace = ? AND user_id = ?",
            (learner.platform, learner.workspace, learner.user_id),
        )
        return rows[0]["id"] if rows else None

    async def record_lesson_view(self, learner_id: int, module: int, lesson: int) -> None:
        async with self._connection() as db:
            await self._changes(
                db,
                "INSERT INTO lesson_views (learner_id, module, lesson, viewed_at) VALUES (?, ?, ?, ?)",
                (learner_id, module, lesson, _now()),
            )

    async def lessons_viewed(self, learner_id: int, module: int) -> set[int]:
        rows = await self._fetch(
            "SELECT DISTINCT lesson FROM lesson_views WHERE learner_id = ? AND module = ?", (learner_id, module)
        )
        return {row["lesson"] for row in rows}

    # Quizzes

    async def record_quiz_answer(
        self, learner_id: int, module: int, lesson: int, question_id: str,
        option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        key = {"learner_id": learner_id, "module": module, "lesson": lesson, "question_id": question_id}
        return await self._record_answer("quiz_answers", key, option_index, correct, event_id)

    async def record_quiz_answer_by(
        self, learner: LearnerRef, module: int, lesson: int, question_id: str,
        option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        learner_id = await self.learner_id(learner)
        return await self.record_quiz_answer(learner_id, module, lesson, question_id, option_index, correct, event_id)

    async def quiz_answers(self, learner_id: int, module: int) -> dict[tuple[int, str], StoredAnswer]:
        rows = await self._fetch(
            f"SELECT lesson, {_ANSWER_COLUMNS} FROM quiz_answers WHERE learner_id = ? AND module = ? ORDER BY id",
            (learner_id, module),
        )
        return {(row["lesson"], row["question_id"]): _answer(row, new=False) for row in rows}

    async def quiz_respondents(self, module: int, lesson: int) -> int:
        rows = await self._fetch(
            "SELECT COUNT(DISTINCT learner_id) FROM quiz_answers WHERE module = ? AND lesson = ?", (module, lesson)
        )
        return rows[0][0]

    # The module test

    async def open_attempt(self, learner_id: int, module: int) -> Attempt | None:
        async with self._connection() as db:
            return await self._open_attempt(db, learner_id, module)

    async def _open_attempt(self, db: aiosqlite.Connection, learner_id: int, module: int) -> Attempt | None:
        rows = await self._rows(
            db,
            f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts"
            " WHERE learner_id = ? AND module = ? AND finished_at IS NULL",
            (learner_id, module),
        )
        return _attempt(rows[0]) if rows else None

    async def start_attempt(self, learner_id: int, module: int, seed: int = 0) -> Attempt:
        async with self._transaction() as db:
            # The partial unique index allows one unfinished attempt: a second insert does nothing.
            await self._changes(
                db,
                "INSERT INTO test_attempts (learner_id, module, started_at, seed) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (learner_id, module, _now(), seed),
            )
            attempt = await self._open_attempt(db, learner_id, module)
        assert attempt is not None  # inserted or already open, inside one transaction
        return attempt

    async def attempt(self, attempt_id: int) -> Attempt | None:
        rows = await self._fetch(f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE id = ?", (attempt_id,))
        return _attempt(rows[0]) if rows else None

    async def record_test_answer(
        self, attempt_id: int, question_id: str, option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        key = {"attempt_id": attempt_id, "question_id": question_id}
        return await self._record_answer("test_answers", key, option_index, correct, event_id)

    async def attempt_answers(self, attempt_id: int) -> dict[str, StoredAnswer]:
        rows = await self._fetch(
            f"SELECT {_ANSWER_COLUMNS} FROM test_answers WHERE attempt_id = ? ORDER BY id", (attempt_id,)
        )
        return {row["question_id"]: _answer(row, new=False) for row in rows}

    async def finish_attempt(self, attempt_id: int, score: int, total: int, passed: bool) -> Attempt:
        async with self._transaction() as db:
            await self._changes(
                db,
                "UPDATE test_attempts SET finished_at = ?, score = ?, total = ?, passed = ?"
                " WHERE id = ? AND finished_at IS NULL",
                (_now(), score, total, passed, attempt_id),
            )
            rows = await self._rows(db, f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE id = ?", (attempt_id,))
            if not rows:
                raise StoreError(f"there is no test attempt {attempt_id}")
        return _attempt(rows[0])

    async def attempts(self, learner_id: int, module: int) -> list[Attempt]:
        rows = await self._fetch(
            f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE learner_id = ? AND module = ? ORDER BY id",
            (learner_id, module),
        )
        return [_attempt(row) for row in rows]

    # Labs

    async def create_lab_thread(
        self, learner_id: int, module: int, lab: int, platform: str, thread_key: str,
    ) -> LabThread:
        async with self._transaction() as db:
            await self._changes(
                db,
                "INSERT INTO lab_threads (learner_id, module, lab, platform, thread_key, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (learner_id, module, lab, platform, thread_key, _now()),
            )
            thread = await self._lab_thread(db, platform, thread_key)
        assert thread is not None  # inserted or already there, inside one transaction
        return thread

    async def lab_thread(self, platform: str, thread_key: str) -> LabThread | None:
        async with self._connection() as db:
            return await self._lab_thread(db, platform, thread_key)

    async def _lab_thread(self, db: aiosqlite.Connection, platform: str, thread_key: str) -> LabThread | None:
        rows = await self._rows(
            db,
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE platform = ? AND thread_key = ?",
            (platform, thread_key),
        )
        return _thread(rows[0]) if rows else None

    async def lab_thread_by_id(self, thread_id: int) -> LabThread | None:
        rows = await self._fetch(f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE id = ?", (thread_id,))
        return _thread(rows[0]) if rows else None

    async def latest_lab_thread(self, learner_id: int, module: int, lab: int, platform: str) -> LabThread | None:
        rows = await self._fetch(
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE learner_id = ? AND module = ? AND lab = ?"
            " AND platform = ? ORDER BY id DESC LIMIT 1",
            (learner_id, module, lab, platform),
        )
        return _thread(rows[0]) if rows else None

    async def lab_threads(self, learner_id: int, module: int) -> list[LabThread]:
        rows = await self._fetch(
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE learner_id = ? AND module = ? ORDER BY id",
            (learner_id, module),
        )
        return [_thread(row) for row in rows]

    async def record_lab_turn(self, thread_id: int, event_id: str, turn: LabTurn) -> bool:
        async with self._connection() as db:
            return await self._insert_turn(db, thread_id, event_id, turn)

    async def _insert_turn(self, db: aiosqlite.Connection, thread_id: int, event_id: str, turn: LabTurn) -> bool:
        values = _turn_values(turn)
        new = await self._changes(
            db,
            f"INSERT INTO lab_turns (thread_id, event_id, {_TURN_COLUMNS}, created_at)"
            f" VALUES ({', '.join('?' * (len(values) + 3))}) ON CONFLICT DO NOTHING",
            (thread_id, event_id, *values, _now()),
        )
        return bool(new)

    async def answered_turns(self, learner_id: int, module: int, lab: int) -> int:
        rows = await self._fetch(
            "SELECT COUNT(*) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id"
            " WHERE h.learner_id = ? AND h.module = ? AND h.lab = ? AND t.status = 'complete'",
            (learner_id, module, lab),
        )
        return int(rows[0][0])

    # Answer claims

    async def claim_answer(
        self, event_id: str, thread_id: int, learner_id: int, question: str, *, owner: str, lease: float,
    ) -> AnswerClaim | None:
        now = datetime.now(UTC)
        async with self._transaction() as db:
            new = await self._changes(
                db,
                "INSERT INTO lab_answers (event_id, thread_id, learner_id, question, status, owner, lease_until,"
                " created_at) VALUES (?, ?, ?, ?, 'streaming', ?, ?, ?) ON CONFLICT DO NOTHING",
                (event_id, thread_id, learner_id, question, owner, _later(now, lease), now.isoformat()),
            )
            if not new:
                return None
            rows = await self._rows(db, f"SELECT {_CLAIM_COLUMNS} FROM lab_answers WHERE event_id = ?", (event_id,))
        return _claim(rows[0])

    async def answer_claim(self, claim_id: int) -> AnswerClaim | None:
        rows = await self._fetch(f"SELECT {_CLAIM_COLUMNS} FROM lab_answers WHERE id = ?", (claim_id,))
        return _claim(rows[0]) if rows else None

    async def is_claimed(self, event_id: str) -> bool:
        return bool(await self._fetch("SELECT 1 FROM lab_answers WHERE event_id = ?", (event_id,)))

    async def renew_claim(
        self, claim_id: int, *, owner: str, lease: float, message_ids: Sequence[str], shown: str, answer: str,
    ) -> bool:
        async with self._connection() as db:
            return bool(await self._changes(
                db,
                "UPDATE lab_answers SET lease_until = ?, message_ids = ?, shown = ?, answer = ?"
                " WHERE id = ? AND owner = ? AND status = 'streaming'",
                (_later(datetime.now(UTC), lease), json.dumps(list(message_ids)), shown, answer, claim_id, owner),
            ))

    async def finish_claim(self, claim_id: int, turn: LabTurn) -> bool:
        status = "interrupted" if turn.status == "interrupted" else "done"
        async with self._transaction() as db:
            rows = await self._rows(
                db, "SELECT thread_id, event_id FROM lab_answers WHERE id = ? AND status = 'streaming'", (claim_id,)
            )
            if not rows:
                return False
            await self._changes(db, "UPDATE lab_answers SET status = ? WHERE id = ?", (status, claim_id))
            await self._insert_turn(db, rows[0]["thread_id"], rows[0]["event_id"], turn)
        return True

    async def expired_claims(self) -> list[AnswerClaim]:
        rows = await self._fetch(
            f"SELECT {_CLAIM_COLUMNS} FROM lab_answers WHERE status = 'streaming' AND lease_until < ? ORDER BY id",
            (_now(),),
        )
        return [_claim(row) for row in rows]

    async def take_over_claim(self, claim_id: int, *, owner: str, lease: float) -> bool:
        now = datetime.now(UTC)
        async with self._connection() as db:
            return bool(await self._changes(
                db,
                "UPDATE lab_answers SET owner = ?, lease_until = ?"
                " WHERE id = ? AND status = 'streaming' AND lease_until < ?",
                (owner, _later(now, lease), claim_id, now.isoformat()),
            ))

    async def claims_since(self, learner_id: int, since: datetime) -> list[datetime]:
        rows = await self._fetch(
            "SELECT created_at FROM lab_answers WHERE learner_id = ? AND created_at >= ? ORDER BY created_at",
            (learner_id, since.astimezone(UTC).isoformat()),
        )
        return [datetime.fromisoformat(row[0]) for row in rows]

    async def output_tokens_since(self, learner_id: int, since: datetime) -> int:
        rows = await self._fetch(
            "SELECT COALESCE(SUM(t.output_tokens), 0) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id"
            " WHERE h.learner_id = ? AND t.created_at >= ?",
            (learner_id, since.astimezone(UTC).isoformat()),
        )
        return int(rows[0][0])

    async def lab_turns(self, thread_id: int) -> list[LabTurn]:
        rows = await self._fetch(f"SELECT {_TURN_COLUMNS} FROM lab_turns WHERE thread_id = ? ORDER BY id", (thread_id,))
        return [_turn(row) for row in rows]

    # Statistics

    async def option_counts(self, module: int) -> list[OptionCount]:
        rows = await self._fetch(
            "SELECT 'quiz' AS kind, lesson AS scope, question_id, option_index, correct, COUNT(*) AS count"
            " FROM quiz_answers WHERE module = ?"
            " GROUP BY lesson, question_id, option_index, correct"
            " UNION ALL "
            "SELECT 'test' AS kind, 0 AS scope, a.question_id, a.option_index, a.correct, COUNT(*) AS count"
            " FROM test_answers a JOIN test_attempts t ON t.id = a.attempt_id"
            " WHERE t.module = ? AND t.id = ("
            "   SELECT MIN(f.id) FROM test_attempts f WHERE f.learner_id = t.learner_id AND f.module = t.module)"
            " GROUP BY a.question_id, a.option_index, a.correct"
            " ORDER BY kind, scope, question_id, option_index",
            (module, module),
        )
        return [_from_row(OptionCount, row, {"correct": bool}) for row in rows]

    # Spaced review

    async def review_cards(self, learner_id: int) -> list[ReviewCard]:
        rows = await self._fetch(
            f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards WHERE learner_id = ? ORDER BY id", (learner_id,)
        )
        return [_review_card(row) for row in rows]

    async def review_card(self, card_id: int) -> ReviewCard | None:
        rows = await self._fetch(f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards WHERE id = ?", (card_id,))
        return _review_card(rows[0]) if rows else None

    async def add_review_card(
        self, learner_id: int, module: int, kind: ReviewKind, scope: int, question_id: str,
        card: str, due: datetime, reviewed_at: datetime,
    ) -> ReviewCard:
        key = (learner_id, module, kind, scope, question_id)
        async with self._transaction() as db:
            await self._changes(
                db,
                "INSERT INTO review_cards (learner_id, module, kind, scope, question_id, card, due, reviewed_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, card, _iso(due), _iso(reviewed_at), _now()),
            )
            rows = await self._rows(
                db,
                f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards"
                " WHERE learner_id = ? AND module = ? AND kind = ? AND scope = ? AND question_id = ?",
                key,
            )
        return _review_card(rows[0])

    async def update_review_card(
        self, card_id: int, reviews: int, card: str, due: datetime, reviewed_at: datetime,
        answer: ReviewAnswer | None = None,
    ) -> bool:
        async with self._transaction() as db:
            if answer is not None and await self._rows(
                db, "SELECT 1 FROM review_answers WHERE event_id = ?", (answer.event_id,)
            ):
                raise EventIdReused(f"event {answer.event_id!r} already recorded a review answer")
            changed = await self._changes(
                db,
                "UPDATE review_cards SET card = ?, due = ?, reviewed_at = ?, reviews = reviews + 1"
                " WHERE id = ? AND reviews = ?",
                (card, _iso(due), _iso(reviewed_at), card_id, reviews),
            )
            if changed and answer is not None:
                await self._changes(
                    db,
                    f"INSERT INTO review_answers ({_REVIEW_ANSWER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (answer.card_id, answer.event_id, answer.option_index, answer.correct, answer.rating,
                     _iso(answer.answered_at), _iso(answer.due)),
                )
        return bool(changed)

    async def review_answer(self, event_id: str) -> ReviewAnswer | None:
        rows = await self._fetch(
            f"SELECT {_REVIEW_ANSWER_COLUMNS} FROM review_answers WHERE event_id = ?", (event_id,)
        )
        return _review_answer(rows[0]) if rows else None

    async def set_review_reminders(self, learner_id: int, enabled: bool, now: datetime) -> None:
        async with self._connection() as db:
            await self._changes(
                db,
                "INSERT INTO review_reminders (learner_id, enabled, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (learner_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                (learner_id, enabled, _iso(now)),
            )

    async def review_reminders(self, learner_id: int) -> bool:
        rows = await self._fetch("SELECT enabled FROM review_reminders WHERE learner_id = ?", (learner_id,))
        return bool(rows and rows[0]["enabled"])

    async def reminder_candidates(self, platform: str, before: datetime) -> list[tuple[int, LearnerRef]]:
        rows = await self._fetch(
            "SELECT l.id, l.platform, l.workspace, l.user_id, l.display_name FROM review_reminders r"
            " JOIN learners l ON l.id = r.learner_id"
            " WHERE r.enabled AND l.platform = ? AND (r.reminded_at IS NULL OR r.reminded_at < ?) ORDER BY l.id",
            (platform, _iso(before)),
        )
        return [(row["id"], LearnerRef(*(row[key] for key in ("platform", "workspace", "user_id", "display_name"))))
                for row in rows]

    async def claim_reminder(self, learner_id: int, now: datetime, before: datetime) -> bool:
        async with self._connection() as db:
            return bool(await self._changes(
                db,
                "UPDATE review_reminders SET reminded_at = ?"
                " WHERE learner_id = ? AND enabled AND (reminded_at IS NULL OR reminded_at < ?)",
                (_iso(now), learner_id, _iso(before)),
            ))

    # Instructor's view and data rights

    async def funnel(self, module: int) -> list[StageCount]:
        async with self._connection() as db:
            rows = await db.execute_fetchall(FUNNEL.format(module=":module"), {"module": module})
        return [_from_row(StageCount, row, {}) for row in rows]

    async def learner_summaries(self, module: int) -> list[LearnerSummary]:
        async with self._connection() as db:
            rows = await db.execute_fetchall(LEARNER_SUMMARIES.format(module=":module"), {"module": module})
        return [_from_row(LearnerSummary, row, {"test_passed": bool}) for row in rows]

    async def learner_data(self, learner_id: int) -> dict[str, list[dict[str, object]]]:
        async with self._connection() as db:
            return {
                table: [dict(row) for row in await self._rows(
                    db, f"SELECT * FROM {table} WHERE {where.format(learner='?')} ORDER BY id", (learner_id,)
                )]
                for table, where in reversed(LEARNER_TABLES)
            }

    async def forget_learner(self, learner_id: int) -> dict[str, int]:
        async with self._transaction() as db:
            return {
                table: await self._changes(db, f"DELETE FROM {table} WHERE {where.format(learner='?')}", (learner_id,))
                for table, where in LEARNER_TABLES
            }

    # Answer feedback

    async def finished_answer(self, answer_id: int) -> FinishedAnswer | None:
        async with self._connection() as db:
            claims = await self._rows(db, "SELECT event_id, thread_id, learner_id FROM lab_answers WHERE id = ?",
                                      (answer_id,))
            if not claims:
                return None
            claim = claims[0]
            threads = await self._rows(db, f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE id = ?",
                                       (claim["thread_id"],))
            turns = await self._rows(db, f"SELECT {_TURN_COLUMNS} FROM lab_turns WHERE event_id = ?",
                                     (claim["event_id"],))
        if not threads or not turns:
            return None
        return FinishedAnswer(answer_id, claim["learner_id"], _thread(threads[0]), _turn(turns[0]))

    async def set_feedback(self, answer_id: int, learner_id: int, helpful: bool, reason: str = "") -> AnswerFeedback:
        now = _now()
        async with self._transaction() as db:
            await self._changes(db, SET_FEEDBACK.format(values="?, ?, ?, ?, ?, ?"),
                                (answer_id, learner_id, int(helpful), reason, now, now))
            rows = await self._rows(db, f"SELECT {_FEEDBACK_COLUMNS} FROM answer_feedback"
                                        " WHERE answer_id = ? AND learner_id = ?", (answer_id, learner_id))
        return _feedback(rows[0])

    async def feedback(self, answer_id: int, learner_id: int) -> AnswerFeedback | None:
        rows = await self._fetch(f"SELECT {_FEEDBACK_COLUMNS} FROM answer_feedback"
                                 " WHERE answer_id = ? AND learner_id = ?", (answer_id, learner_id))
        return _feedback(rows[0]) if rows else None

    async def unhelpful_answers(self, module: int) -> list[UnhelpfulAnswer]:
        rows = await self._fetch(UNHELPFUL_ANSWERS.format(module="?"), (module,))
        return [_from_row(UnhelpfulAnswer, row, {"updated_at": datetime.fromisoformat}) for row in rows]
