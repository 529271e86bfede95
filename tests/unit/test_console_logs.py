"""The console's log file: records and Python warnings go there, not to the learner's screen, key masked."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.console.app import log_file, log_to
from bot.logs import setup_logging

KEY = "a-key-value-that-looks-like-nothing"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = handlers, level
    logging.captureWarnings(False)


def test_log_file_is_next_to_the_database(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "course.db")
    assert log_file(settings) == tmp_path / "course-console.log"


def test_records_and_warnings_go_to_the_file_with_the_key_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None,
) -> None:
    path = tmp_path / "course-console.log"
    setup_logging("INFO", [KEY])
    log_to(path)

    logging.getLogger("bot.test").warning("the API said no to %s", KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old way of doing things", DeprecationWarning, stacklevel=1)
    for handler in logging.getLogger().handlers:
        handler.flush()

    written = path.read_text()
    assert "the API said no to [redacted]" in written and KEY not in written
    assert "an old way of doing things" in written
    screen = capsys.readouterr()
    assert screen.out == "" and screen.err == ""
