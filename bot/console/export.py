"""``/progress export`` in the console: everything the course stores about the learner, as a JSON file.

The console is the learner's own terminal, so the file is written next to the database (``coursebot.db`` ->
``coursebot-data-console-<user>.json``; with PostgreSQL, in the working directory: ``Settings.files_base``)
and its path printed; an earlier export is replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.data_rights import DataRights

if TYPE_CHECKING:
    from bot.console.app import ConsoleApp


def export_path(files_base: Path, filename: str) -> Path:
    return files_base.resolve().parent / filename


def export_data(app: ConsoleApp) -> Path:
    """Write the learner's data and say where it is."""
    data = app._run(DataRights(app.course.store).export(app.learner))
    path = export_path(app.runtime.settings.files_base, data.filename)
    path.write_bytes(data.content)
    app.screen.say(f"Everything coursebot stores about you ({data.rows} rows) is in {path}")
    return path
