"""``/progress export`` in the console, over pipes: the learner's data written next to the database, path printed."""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest

from tests.e2e.learner_rows import learner_id, rows_by_table
from tests.e2e.test_console import Console

pytestmark = pytest.mark.e2e


async def test_progress_export_writes_the_learners_rows_next_to_the_database(tmp_path: Path) -> None:
    session = await Console(tmp_path)("/lesson 1 all", "/lesson 2 all", "/progress export", "/progress exports")
    assert session.returncode == 0, session.stderr
    found = re.search(r"\((\d+) rows\) is in (\S+\.json)", session.stdout.replace("\n", " "))
    assert found, session.stdout
    path = Path(found[2])
    assert path.parent == tmp_path and path.name == f"coursebot-data-console-{getpass.getuser()}.json"
    tables = json.loads(path.read_text())["tables"]
    db = tmp_path / "course.db"
    assert {table: len(rows) for table, rows in tables.items()} == rows_by_table(
        db, learner_id(db, "console", "local", getpass.getuser()))
    assert [row["lesson"] for row in tables["lesson_views"]] == [1, 2]
    assert int(found[1]) == sum(len(rows) for rows in tables.values())
    assert "'exports' is not a number" in session.stdout  # any other word is still a module number
