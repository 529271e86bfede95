"""serve(): refuses to start with a clear log line, and an exit code, when it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.serve import serve

CONTENT = Path(__file__).resolve().parents[2] / "content"


def _settings(tmp_path: Path, **values: object) -> Settings:
    values = {"COURSEBOT_DB": tmp_path / "bot.db", "COURSEBOT_CONTENT": CONTENT, **values}
    return Settings(_env_file=None, **values)


async def test_a_platform_without_its_token_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert await serve(_settings(tmp_path), platforms=("discord",)) == 2
    assert "set DISCORD_TOKEN" in capfd.readouterr().err
    assert await serve(_settings(tmp_path, SLACK_BOT_TOKEN="xoxb-1"), platforms=("slack",)) == 2
    assert "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET" in capfd.readouterr().err
    assert not (tmp_path / "bot.db").exists()  # nothing was started


async def test_default_command_refuses_slack_without_a_way_to_receive_events(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Plain ``coursebot`` (the Docker CMD) with only SLACK_BOT_TOKEN would answer every request with a 500."""
    assert await serve(_settings(tmp_path, SLACK_BOT_TOKEN="xoxb-1")) == 2
    errors = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET" in errors[0]
    assert not (tmp_path / "bot.db").exists()


async def test_nothing_configured_is_refused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert await serve(_settings(tmp_path)) == 2
    assert "no chat platform configured" in capfd.readouterr().err


async def test_broken_content_stops_start_up(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, DISCORD_TOKEN="token", COURSEBOT_CONTENT=tmp_path / "missing")
    assert await serve(settings, platforms=("discord",)) == 1
    assert "the course content has errors" in capfd.readouterr().err


async def test_unusable_database_stops_start_up(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bot.db").write_bytes(b"this is not a database" * 100)
    assert await serve(_settings(tmp_path, DISCORD_TOKEN="token"), platforms=("discord",)) == 1
    assert "cannot open the database" in capfd.readouterr().err
