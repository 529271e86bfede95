"""Rows the database holds about learners, counted table by table (``LEARNER_TABLES``) with a plain sqlite3 connection."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.core.store.learner_tables import LEARNER_TABLES


def learner_id(db: Path | str, platform: str, workspace: str, user_id: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT id FROM learners WHERE platform = ? AND workspace = ? AND user_id = ?",
                           (platform, workspace, user_id)).fetchone()
    assert row is not None, f"no learner {user_id} on {platform}/{workspace}"
    return int(row[0])


def rows_by_table(db: Path | str, learner: int) -> dict[str, int]:
    """How many rows of each table belong to the learner with this id."""
    with closing(sqlite3.connect(db)) as conn:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where.format(learner='?')}",
                                    (learner,)).fetchone()[0]
                for table, where in LEARNER_TABLES}


def all_rows(db: Path | str) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table, _ in LEARNER_TABLES}
