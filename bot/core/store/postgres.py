"""``PostgresStore``: the ``Store`` protocol on a pool of asyncpg connections.

The twin of ``sqlite.py`` with the same queries and the same idempotency: every event-driven
write is ``INSERT ... ON CONFLICT DO NOTHING`` against the same UNIQUE constraints, followed, in
the same transaction, by a read of the row that stands (quiz and test answers do both in one
statement, see ``_record_answer``). Under READ COMMITTED a conflicting insert
waits for the other transaction and each statement sees what was committed before it, so two
processes racing on one event record exactly one row, as two coroutines do on SQLite.

Migrations are the numbered files in ``migrations/postgres/``, with the same numbers and names as
the SQLite ones (only the column types differ: identities, TIMESTAMPTZ, DOUBLE PRECISION). Each is
applied in one transaction under an advisory lock, so processes starting together migrate once.
Timestamps are written from this process's clock (as on SQLite), and read back as aware datetimes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

import asyncpg

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
from bot.core.store.lanes import Lanes
from bot.core.store.learner_tables import LEARNER_TABLES
from bot.core.store.reports import FUNNEL, LEARNER_SUMMARIES
from bot.core.store.rows import columns, from_row
from bot.core.store.sqlite import Migration, SchemaError, read_migrations

MIGRATIONS = read_migrations(files(__package__) / "migrations" / "postgres")

_MIGRATION_LOCK = 0x636F7572  # any constant: pg_advisory_xact_lock serialises migrating processes

_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)"""

_ANSWER_COLUMNS = columns(StoredAnswer, skip=("new",))
_ATTEMPT_COLUMNS = columns(Attempt)
_THREAD_COLUMNS = columns(LabThread)
_TURN_COLUMNS = columns(LabTurn)
_CLAIM_COLUMNS = columns(AnswerClaim)
_REVIEW_CARD_COLUMNS = columns(ReviewCard)
_REVIEW_ANSWER_COLUMNS = columns(ReviewAnswer)
_FEEDBACK_COLUMNS = columns(AnswerFeedback)


async def schema_version(db: asyncpg.Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    await db.execute(_SCHEMA_VERSION_TABLE)
    return await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")


async def migrate(db: asyncpg.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the pending migrations, each in one transaction; return the versions applied.

    A database whose version is higher than the last migration known here is refused.
    """
    latest = migrations[-1].version if migrations else 0
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
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
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            if await schema_version(db) >= migration.version:  # another process got here first
                continue
            await db.execute(migration.sql)  # no parameters: the simple protocol runs the whole script
            await db.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version, migration.name, datetime.now(UTC),
            )
        applied.append(migration.version)
    return applied


def _changed(status: str) -> int:
    """Rows a write changed, from its command tag (``INSERT 0 1``, ``UPDATE 0``)."""
    return int(status.rsplit(" ", 1)[-1])


# The learner's id as the CTE ``learner``, added (or their new display name written) when needed; parameters
# $1-$5 (``_learner_args``). A statement that goes on with it writes what needs the id in the same round trip.
_LEARNER = (
    "WITH standing AS (SELECT id FROM learners WHERE platform = $1 AND workspace = $2 AND user_id = $3"
    " AND ($4 = '' OR display_name = $4)),"
    " added AS (INSERT INTO learners (platform, workspace, user_id, display_name, created_at)"
    " SELECT $1, $2, $3, $4, $5::timestamptz WHERE NOT EXISTS (SELECT 1 FROM standing)"
    " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET display_name ="
    " CASE WHEN excluded.display_name = '' THEN learners.display_name ELSE excluded.display_name END"
    " RETURNING id),"
    " learner AS (SELECT id FROM standing UNION ALL SELECT id FROM added)"
)


def _learner_args(learner: LearnerRef) -> tuple[str, str, str, str, datetime]:
    return learner.platform, learner.workspace, learner.user_id, learner.display_name, datetime.now(UTC)


def _answer(row: asyncpg.Record, *, new: bool) -> StoredAnswer:
    return from_row(StoredAnswer, row, {}, new=new)


def _attempt(row: asyncpg.Record) -> Attempt:
    return from_row(Attempt, row, {})


def _thread(row: asyncpg.Record) -> LabThread:
    return from_row(LabThread, row, {})


def _turn(row: asyncpg.Record) -> LabTurn:
    return from_row(LabTurn, row, {"sources": sources_from_json})


def _claim(row: asyncpg.Record) -> AnswerClaim:
    return from_row(AnswerClaim, row, {"message_ids": lambda text: tuple(json.loads(text))})


async def _keep_session(db: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default runs ``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL`` and an advisory unlock on every release,
    one more round trip per use of the pool; this store leaves no session state (no ``SET``, cursors, ``LISTEN``
    or session advisory locks: the migration lock is transaction-scoped), so there is nothing to reset.
    """


URGENT_RESERVE = 2  # pool connections only the writes an acknowledgement waits on may use (see ``Lanes``)


class PostgresStore:
    """The course's storage in a PostgreSQL database (see the module docstring)."""

    def __init__(self, dsn: str, *, min_size: int = 10, max_size: int = 10) -> None:
        """The pool opens ``min_size`` connections at once and keeps them open: a class asking at once would
        otherwise pay for opening them in the second its questions and quiz clicks arrive (bench/RESULTS.md)."""
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lanes = Lanes(max_size, reserve=URGENT_RESERVE)

    async def open(self) -> None:
        """Connect the pool and apply pending migrations; a no-op when open.

        A server that cannot be reached or refuses the login raises ``StoreError`` (without the password).
        """
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(self.dsn, min_size=self.min_size, max_size=self.max_size,
                                             max_inactive_connection_lifetime=0, reset=_keep_session)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"cannot open the PostgreSQL store: {error}") from error
        try:
            async with pool.acquire() as db:
                await migrate(db)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _connection(self, *, urgent: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; ``urgent`` for the writes an interaction's acknowledgement waits on."""
        if self._pool is None:
            raise StoreError("the store is not open")
        async with self._lanes.seat(urgent=urgent), self._pool.acquire() as db:
            yield db

    @asynccontextmanager
    async def _transaction(self, *, urgent: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, committed on success, rolled back on error."""
        async with self._connection(urgent=urgent) as db, db.transaction():
            yield db

    async def _fetch(self, sql: str, params: Iterable[Any] = ()) -> list[asyncpg.Record]:
        async with self._connection() as db:
            return await db.fetch(sql, *params)

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        async with self._connection() as db:
            return _changed(await db.execute(sql, *params))

    async def _record_answer(
        self, table: str, key: dict[str, Any], option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        """Insert an answer unless one already stands for ``key``; return the one that stands.

        One statement, because a click's acknowledgement waits on it (a transaction with a read-back is four
        round trips). ``ON CONFLICT (key) DO UPDATE`` with the standing value returns the standing row even when
        another transaction committed it after this statement began, which ``DO NOTHING`` would not; ``xmax = 0``
        tells a row this statement inserted. The UNIQUE event id is not the conflict target, so it raises: when
        the same event is being recorded concurrently (then the key's row stands once that commits), or when the
        event recorded a different answer (refused).
        """
        names = ", ".join(key)
        placeholders = ", ".join(f"${n}" for n in range(1, len(key) + 5))
        async with self._connection(urgent=True) as db:
            try:
                row = await db.fetchrow(
                    f"INSERT INTO {table} ({names}, option_index, correct, event_id, answered_at)"
                    f" VALUES ({placeholders}) ON CONFLICT ({names}) DO UPDATE SET option_index = {table}.option_index"
                    f" RETURNING {_ANSWER_COLUMNS}, xmax = 0 AS inserted",
                    *key.values(), option_index, correct, event_id, datetime.now(UTC),
                )
            except asyncpg.UniqueViolationError as error:
                where = " AND ".join(f"{column} = ${n}" for n, column in enumerate(key, start=1))
                row = await db.fetchrow(f"SELECT {_ANSWER_COLUMNS}, false AS inserted FROM {table} WHERE {where}",
                                        *key.values())
                if row is None:
                    raise EventIdReused(f"event {event_id!r} already recorded another answer") from error
        return _answer(row, new=row["inserted"])

    # Learners and lessons

    async def learner_id(self, learner: LearnerRef) -> int:
        """The learner's id, added (or their new display name written) when needed: one statement, urgent."""
        async with self._connection(urgent=True) as db:
            return await db.fetchval(f"{_LEARNER} SELECT id FROM learner", *_learner_args(learner))

    async def find_learner(self, learner: LearnerRef) -> int | None:
        rows = await self._fetch(
            "SELECT id FROM learners WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            (learner.platform, learner.workspace, learner.user_id),
        )
        return rows[0]["id"] if rows else None

    async def record_lesson_view(self, learner_id: int, module: int, lesson: int) -> None:
        await self._write(
            "INSERT INTO lesson_views (learner_id, module, lesson, viewed_at) VALUES ($1, $2, $3, $4)",
            (learner_id, module, lesson, datetime.now(UTC)),
        )

    async def lessons_viewed(self, learner_id: int, module: int) -> set[int]:
        rows = await self._fetch(
            "SELECT DISTINCT lesson FROM lesson_views WHERE learner_id = $1 AND module = $2", (learner_id, module)
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
        """The learner's id and the answer in one statement, as ``_record_answer``: a quiz click is one round
        trip. An event id that stands already takes ``record_quiz_answer``'s way (rare: a redelivered click)."""
        async with self._connection(urgent=True) as db:
            try:
                row = await db.fetchrow(
                    f"{_LEARNER} INSERT INTO quiz_answers"
                    " (learner_id, module, lesson, question_id, option_index, correct, event_id, answered_at)"
                    " SELECT id, $6, $7, $8, $9, $10, $11, $5 FROM learner"
                    " ON CONFLICT (learner_id, module, lesson, question_id)"
                    " DO UPDATE SET option_index = quiz_answers.option_index"
                    f" RETURNING {_ANSWER_COLUMNS}, xmax = 0 AS inserted",
                    *_learner_args(learner), module, lesson, question_id, option_index, correct, event_id,
                )
            except asyncpg.UniqueViolationError:
                row = None
        if row is None:
            learner_id = await self.learner_id(learner)
            return await self.record_quiz_answer(learner_id, module, lesson, question_id, option_index, correct, event_id)
        return _answer(row, new=row["inserted"])

    async def quiz_answers(self, learner_id: int, module: int) -> dict[tuple[int, str], StoredAnswer]:
        rows = await self._fetch(
            f"SELECT lesson, {_ANSWER_COLUMNS} FROM quiz_answers WHERE learner_id = $1 AND module = $2 ORDER BY id",
            (learner_id, module),
        )
        return {(row["lesson"], row["question_id"]): _answer(row, new=False) for row in rows}

    async def quiz_respondents(self, module: int, lesson: int) -> int:
        rows = await self._fetch(
            "SELECT COUNT(DISTINCT learner_id) FROM quiz_answers WHERE module = $1 AND lesson = $2", (module, lesson)
        )
        return rows[0][0]

    # The module test

    async def open_attempt(self, learner_id: int, module: int) -> Attempt | None:
        async with self._connection() as db:
            return await self._open_attempt(db, learner_id, module)

    @staticmethod
    async def _open_attempt(db: asyncpg.Connection, learner_id: int, module: int) -> Attempt | None:
        row = await db.fetchrow(
            f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts"
            " WHERE learner_id = $1 AND module = $2 AND finished_at IS NULL",
            learner_id, module,
        )
        return _attempt(row) if row is not None else None

    async def start_attempt(self, learner_id: int, module: int, seed: int = 0) -> Attempt:
        async with self._transaction() as db:
            # The partial unique index allows one unfinished attempt: a second insert does nothing.
            await db.execute(
                "INSERT INTO test_attempts (learner_id, module, started_at, seed) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                learner_id, module, datetime.now(UTC), seed,
            )
            attempt = await self._open_attempt(db, learner_id, module)
        assert attempt is not None  # inserted, or the conflicting open attempt is committed and visible
        return attempt

    async def attempt(self, attempt_id: int) -> Attempt | None:
        rows = await self._fetch(f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE id = $1", (attempt_id,))
        return _attempt(rows[0]) if rows else None

    async def record_test_answer(
        self, attempt_id: int, question_id: str, option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        key = {"attempt_id": attempt_id, "question_id": question_id}
        return await self._record_answer("test_answers", key, option_index, correct, event_id)

    async def attempt_answers(self, attempt_id: int) -> dict[str, StoredAnswer]:
        rows = await self._fetch(
            f"SELECT {_ANSWER_COLUMNS} FROM test_answers WHERE attempt_id = $1 ORDER BY id", (attempt_id,)
        )
        return {row["question_id"]: _answer(row, new=False) for row in rows}

    async def finish_attempt(self, attempt_id: int, score: int, total: int, passed: bool) -> Attempt:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE test_attempts SET finished_at = $1, score = $2, total = $3, passed = $4"
                " WHERE id = $5 AND finished_at IS NULL",
                datetime.now(UTC), score, total, passed, attempt_id,
            )
            row = await db.fetchrow(f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE id = $1", attempt_id)
            if row is None:
                raise StoreError(f"there is no test attempt {attempt_id}")
        return _attempt(row)

    async def attempts(self, learner_id: int, module: int) -> list[Attempt]:
        rows = await self._fetch(
            f"SELECT {_ATTEMPT_COLUMNS} FROM test_attempts WHERE learner_id = $1 AND module = $2 ORDER BY id",
            (learner_id, module),
        )
        return [_attempt(row) for row in rows]

    # Labs

    async def create_lab_thread(
        self, learner_id: int, module: int, lab: int, platform: str, thread_key: str,
    ) -> LabThread:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO lab_threads (learner_id, module, lab, platform, thread_key, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                learner_id, module, lab, platform, thread_key, datetime.now(UTC),
            )
            thread = await self._lab_thread(db, platform, thread_key)
        assert thread is not None  # inserted, or the conflicting row is committed and visible
        return thread

    async def lab_thread(self, platform: str, thread_key: str) -> LabThread | None:
        async with self._connection() as db:
            return await self._lab_thread(db, platform, thread_key)

    @staticmethod
    async def _lab_thread(db: asyncpg.Connection, platform: str, thread_key: str) -> LabThread | None:
        row = await db.fetchrow(
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE platform = $1 AND thread_key = $2", platform, thread_key
        )
        return _thread(row) if row is not None else None

    async def lab_thread_by_id(self, thread_id: int) -> LabThread | None:
        rows = await self._fetch(f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE id = $1", (thread_id,))
        return _thread(rows[0]) if rows else None

    async def latest_lab_thread(self, learner_id: int, module: int, lab: int, platform: str) -> LabThread | None:
        rows = await self._fetch(
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE learner_id = $1 AND module = $2 AND lab = $3"
            " AND platform = $4 ORDER BY id DESC LIMIT 1",
            (learner_id, module, lab, platform),
        )
        return _thread(rows[0]) if rows else None

    async def lab_threads(self, learner_id: int, module: int) -> list[LabThread]:
        rows = await self._fetch(
            f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE learner_id = $1 AND module = $2 ORDER BY id",
            (learner_id, module),
        )
        return [_thread(row) for row in rows]

    async def record_lab_turn(self, thread_id: int, event_id: str, turn: LabTurn) -> bool:
        async with self._connection() as db:
            return await self._insert_turn(db, thread_id, event_id, turn)

    @staticmethod
    async def _insert_turn(db: asyncpg.Connection, thread_id: int, event_id: str, turn: LabTurn) -> bool:
        values = [sources_json(turn.sources) if f.name == "sources" else getattr(turn, f.name) for f in fields(LabTurn)]
        placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 4))
        status = await db.execute(
            f"INSERT INTO lab_turns (thread_id, event_id, {_TURN_COLUMNS}, created_at)"
            f" VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            thread_id, event_id, *values, datetime.now(UTC),
        )
        return bool(_changed(status))

    async def lab_turns(self, thread_id: int) -> list[LabTurn]:
        rows = await self._fetch(
            f"SELECT {_TURN_COLUMNS} FROM lab_turns WHERE thread_id = $1 ORDER BY id", (thread_id,)
        )
        return [_turn(row) for row in rows]

    async def answered_turns(self, learner_id: int, module: int, lab: int) -> int:
        rows = await self._fetch(
            "SELECT COUNT(*) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id"
            " WHERE h.learner_id = $1 AND h.module = $2 AND h.lab = $3 AND t.status = 'complete'",
            (learner_id, module, lab),
        )
        return int(rows[0][0])

    # Answer claims

    async def claim_answer(
        self, event_id: str, thread_id: int, learner_id: int, question: str, *, owner: str, lease: float,
    ) -> AnswerClaim | None:
        now = datetime.now(UTC)
        async with self._connection() as db:
            row = await db.fetchrow(
                "INSERT INTO lab_answers (event_id, thread_id, learner_id, question, status, owner, lease_until,"
                " created_at) VALUES ($1, $2, $3, $4, 'streaming', $5, $6, $7) ON CONFLICT DO NOTHING"
                f" RETURNING {_CLAIM_COLUMNS}",
                event_id, thread_id, learner_id, question, owner, now + timedelta(seconds=lease), now,
            )
        return _claim(row) if row is not None else None

    async def answer_claim(self, claim_id: int) -> AnswerClaim | None:
        rows = await self._fetch(f"SELECT {_CLAIM_COLUMNS} FROM lab_answers WHERE id = $1", (claim_id,))
        return _claim(rows[0]) if rows else None

    async def is_claimed(self, event_id: str) -> bool:
        return bool(await self._fetch("SELECT 1 FROM lab_answers WHERE event_id = $1", (event_id,)))

    async def renew_claim(
        self, claim_id: int, *, owner: str, lease: float, message_ids: Sequence[str], shown: str, answer: str,
    ) -> bool:
        return bool(await self._write(
            "UPDATE lab_answers SET lease_until = $1, message_ids = $2, shown = $3, answer = $4"
            " WHERE id = $5 AND owner = $6 AND status = 'streaming'",
            (datetime.now(UTC) + timedelta(seconds=lease), json.dumps(list(message_ids)), shown, answer,
             claim_id, owner),
        ))

    async def finish_claim(self, claim_id: int, turn: LabTurn) -> bool:
        status = "interrupted" if turn.status == "interrupted" else "done"
        async with self._transaction() as db:
            # One statement closes the claim: a concurrent finish waits on the row, then finds it closed.
            row = await db.fetchrow(
                "UPDATE lab_answers SET status = $1 WHERE id = $2 AND status = 'streaming'"
                " RETURNING thread_id, event_id",
                status, claim_id,
            )
            if row is None:
                return False
            await self._insert_turn(db, row["thread_id"], row["event_id"], turn)
        return True

    async def expired_claims(self) -> list[AnswerClaim]:
        rows = await self._fetch(
            f"SELECT {_CLAIM_COLUMNS} FROM lab_answers WHERE status = 'streaming' AND lease_until < $1 ORDER BY id",
            (datetime.now(UTC),),
        )
        return [_claim(row) for row in rows]

    async def take_over_claim(self, claim_id: int, *, owner: str, lease: float) -> bool:
        now = datetime.now(UTC)
        return bool(await self._write(
            "UPDATE lab_answers SET owner = $1, lease_until = $2"
            " WHERE id = $3 AND status = 'streaming' AND lease_until < $4",
            (owner, now + timedelta(seconds=lease), claim_id, now),
        ))

    async def claims_since(self, learner_id: int, since: datetime) -> list[datetime]:
        rows = await self._fetch(
            "SELECT created_at FROM lab_answers WHERE learner_id = $1 AND created_at >= $2 ORDER BY created_at",
            (learner_id, since),
        )
        return [row[0] for row in rows]

    async def output_tokens_since(self, learner_id: int, since: datetime) -> int:
        rows = await self._fetch(
            "SELECT COALESCE(SUM(t.output_tokens), 0) FROM lab_turns t JOIN lab_threads h ON h.id = t.thread_id"
            " WHERE h.learner_id = $1 AND t.created_at >= $2",
            (learner_id, since),
        )
        return int(rows[0][0])

    # Statistics

    async def option_counts(self, module: int) -> list[OptionCount]:
        rows = await self._fetch(
            "SELECT 'quiz' AS kind, lesson AS scope, question_id, option_index, correct, COUNT(*) AS count"
            " FROM quiz_answers WHERE module = $1"
            " GROUP BY lesson, question_id, option_index, correct"
            " UNION ALL "
            "SELECT 'test' AS kind, 0 AS scope, a.question_id, a.option_index, a.correct, COUNT(*) AS count"
            " FROM test_answers a JOIN test_attempts t ON t.id = a.attempt_id"
            " WHERE t.module = $1 AND t.id = ("
            "   SELECT MIN(f.id) FROM test_attempts f WHERE f.learner_id = t.learner_id AND f.module = t.module)"
            " GROUP BY a.question_id, a.option_index, a.correct"
            " ORDER BY kind, scope, question_id, option_index",
            (module,),
        )
        return [from_row(OptionCount, row, {}) for row in rows]

    # Spaced review

    async def review_cards(self, learner_id: int) -> list[ReviewCard]:
        rows = await self._fetch(
            f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards WHERE learner_id = $1 ORDER BY id", (learner_id,)
        )
        return [from_row(ReviewCard, row, {}) for row in rows]

    async def review_card(self, card_id: int) -> ReviewCard | None:
        rows = await self._fetch(f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards WHERE id = $1", (card_id,))
        return from_row(ReviewCard, rows[0], {}) if rows else None

    async def add_review_card(
        self, learner_id: int, module: int, kind: ReviewKind, scope: int, question_id: str,
        card: str, due: datetime, reviewed_at: datetime,
    ) -> ReviewCard:
        key = (learner_id, module, kind, scope, question_id)
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO review_cards (learner_id, module, kind, scope, question_id, card, due, reviewed_at,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                *key, card, due, reviewed_at, datetime.now(UTC),
            )
            row = await db.fetchrow(
                f"SELECT {_REVIEW_CARD_COLUMNS} FROM review_cards"
                " WHERE learner_id = $1 AND module = $2 AND kind = $3 AND scope = $4 AND question_id = $5",
                *key,
            )
        return from_row(ReviewCard, row, {})

    async def update_review_card(
        self, card_id: int, reviews: int, card: str, due: datetime, reviewed_at: datetime,
        answer: ReviewAnswer | None = None,
    ) -> bool:
        async with self._transaction() as db:
            if answer is not None and await db.fetchval(
                "SELECT 1 FROM review_answers WHERE event_id = $1", answer.event_id
            ):
                raise EventIdReused(f"event {answer.event_id!r} already recorded a review answer")
            changed = _changed(await db.execute(
                "UPDATE review_cards SET card = $1, due = $2, reviewed_at = $3, reviews = reviews + 1"
                " WHERE id = $4 AND reviews = $5",
                card, due, reviewed_at, card_id, reviews,
            ))
            if changed and answer is not None:
                await db.execute(
                    f"INSERT INTO review_answers ({_REVIEW_ANSWER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    answer.card_id, answer.event_id, answer.option_index, answer.correct, answer.rating,
                    answer.answered_at, answer.due,
                )
        return bool(changed)

    async def review_answer(self, event_id: str) -> ReviewAnswer | None:
        rows = await self._fetch(
            f"SELECT {_REVIEW_ANSWER_COLUMNS} FROM review_answers WHERE event_id = $1", (event_id,)
        )
        return from_row(ReviewAnswer, rows[0], {}) if rows else None

    async def set_review_reminders(self, learner_id: int, enabled: bool, now: datetime) -> None:
        await self._write(
            "INSERT INTO review_reminders (learner_id, enabled, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (learner_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
            (learner_id, enabled, now),
        )

    async def review_reminders(self, learner_id: int) -> bool:
        rows = await self._fetch("SELECT enabled FROM review_reminders WHERE learner_id = $1", (learner_id,))
        return bool(rows and rows[0]["enabled"])

    async def reminder_candidates(self, platform: str, before: datetime) -> list[tuple[int, LearnerRef]]:
        rows = await self._fetch(
            "SELECT l.id, l.platform, l.workspace, l.user_id, l.display_name FROM review_reminders r"
            " JOIN learners l ON l.id = r.learner_id"
            " WHERE r.enabled AND l.platform = $1 AND (r.reminded_at IS NULL OR r.reminded_at < $2) ORDER BY l.id",
            (platform, before),
        )
        return [(row["id"], LearnerRef(*(row[key] for key in ("platform", "workspace", "user_id", "display_name"))))
                for row in rows]

    async def claim_reminder(self, learner_id: int, now: datetime, before: datetime) -> bool:
        return bool(await self._write(
            "UPDATE review_reminders SET reminded_at = $1"
            " WHERE learner_id = $2 AND enabled AND (reminded_at IS NULL OR reminded_at < $3)",
            (now, learner_id, before),
        ))

    # Instructor's view and data rights

    async def funnel(self, module: int) -> list[StageCount]:
        rows = await self._fetch(FUNNEL.format(module="$1"), (module,))
        return [from_row(StageCount, row, {}) for row in rows]

    async def learner_summaries(self, module: int) -> list[LearnerSummary]:
        rows = await self._fetch(LEARNER_SUMMARIES.format(module="$1"), (module,))
        return [from_row(LearnerSummary, row, {}) for row in rows]

    async def learner_data(self, learner_id: int) -> dict[str, list[dict[str, object]]]:
        async with self._connection() as db:
            return {
                table: [dict(row) for row in await db.fetch(
                    f"SELECT * FROM {table} WHERE {where.format(learner='$1')} ORDER BY id", learner_id
                )]
                for table, where in reversed(LEARNER_TABLES)
            }

    async def forget_learner(self, learner_id: int) -> dict[str, int]:
        async with self._transaction() as db:
            return {
                table: _changed(await db.execute(f"DELETE FROM {table} WHERE {where.format(learner='$1')}", learner_id))
                for table, where in LEARNER_TABLES
            }

    # Answer feedback

    async def finished_answer(self, answer_id: int) -> FinishedAnswer | None:
        async with self._connection() as db:
            claim = await db.fetchrow("SELECT event_id, thread_id, learner_id FROM lab_answers WHERE id = $1", answer_id)
            if claim is None:
                return None
            thread = await db.fetchrow(f"SELECT {_THREAD_COLUMNS} FROM lab_threads WHERE id = $1", claim["thread_id"])
            turn = await db.fetchrow(f"SELECT {_TURN_COLUMNS} FROM lab_turns WHERE event_id = $1", claim["event_id"])
        if thread is None or turn is None:
            return None
        return FinishedAnswer(answer_id, claim["learner_id"], _thread(thread), _turn(turn))

    async def set_feedback(self, answer_id: int, learner_id: int, helpful: bool, reason: str = "") -> AnswerFeedback:
        now = datetime.now(UTC)
        async with self._transaction() as db:
            await db.execute(SET_FEEDBACK.format(values="$1, $2, $3, $4, $5, $5"),
                             answer_id, learner_id, helpful, reason, now)
            row = await db.fetchrow(f"SELECT {_FEEDBACK_COLUMNS} FROM answer_feedback"
                                    " WHERE answer_id = $1 AND learner_id = $2", answer_id, learner_id)
        return from_row(AnswerFeedback, row, {})

    async def feedback(self, answer_id: int, learner_id: int) -> AnswerFeedback | None:
        rows = await self._fetch(f"SELECT {_FEEDBACK_COLUMNS} FROM answer_feedback"
                                 " WHERE answer_id = $1 AND learner_id = $2", (answer_id, learner_id))
        return from_row(AnswerFeedback, rows[0], {}) if rows else None

    async def unhelpful_answers(self, module: int) -> list[UnhelpfulAnswer]:
        rows = await self._fetch(UNHELPFUL_ANSWERS.format(module="$1"), (module,))
        return [from_row(UnhelpfulAnswer, row, {}) for row in rows]
