"""Settings: names, defaults, one clear line per bad variable, secrets never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.config import DEFAULT_MODEL, Settings, SettingsError, load_settings
from bot.logs import RedactSecrets

SECRET = "xoxb-123456789012-abcdefghijkl"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "SLACK_", "ANTHROPIC_", "COURSEBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.model == DEFAULT_MODEL
    assert settings.db == "coursebot.db" and settings.files_base == Path("coursebot.db")
    assert settings.content == Path("content")
    assert not (settings.discord_enabled or settings.slack_enabled or settings.claude_enabled)


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_GUILD_ID=42\nSLACK_INSTRUCTORS=U1, U2\n")
    monkeypatch.setenv("COURSEBOT_MODEL", "claude-sonnet-4-5")
    settings = load_settings()
    assert settings.discord_guild_id == 42
    assert settings.slack_instructors == ["U1", "U2"]
    assert settings.model == "claude-sonnet-4-5"


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_GUILD_ID", "not-a-number")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith("invalid setting DISCORD_GUILD_ID:")
    assert len(str(error.value).splitlines()) == 1


def test_secrets_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SECRET)
    settings = load_settings()
    assert settings.slack_enabled
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_cli_exits_2_on_invalid_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "ANTHROPIC_"))}
    env.update(COURSEBOT_READ_TIMEOUT="-5", SLACK_BOT_TOKEN=SECRET)
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("invalid setting COURSEBOT_READ_TIMEOUT:")
    assert SECRET not in result.stdout + result.stderr


def test_log_filter_redacts_tokens() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s and Bearer abc.def", (SECRET,), None)
    RedactSecrets().filter(record)
    message = record.getMessage()
    assert SECRET not in message and "abc.def" not in message
    assert message.count("[redacted]") == 2


def test_empty_values_mean_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=\nSLACK_BOT_TOKEN=\nANTHROPIC_API_KEY=\n")
    settings = load_settings()
    assert not (settings.discord_enabled or settings.slack_enabled or settings.claude_enabled)


def test_the_heartbeat_lives_beside_sqlite_in_the_temp_folder_with_postgresql_or_where_it_is_set(
    tmp_path: Path,
) -> None:
    beside = Settings(_env_file=None, db=tmp_path / "course.db")  # type: ignore[call-arg]
    assert beside.heartbeat_file == tmp_path / "course.db.heartbeat"
    shared = Settings(_env_file=None, db="postgresql://u:p@db/coursebot")  # type: ignore[call-arg]
    assert shared.heartbeat_file.parent == Path(tempfile.gettempdir())  # writable where /app is not
    own = Settings(_env_file=None, db="postgresql://u:p@db/coursebot", heartbeat=tmp_path / "b1")  # type: ignore[call-arg]
    assert own.heartbeat_file == tmp_path / "b1"  # several processes on one host: one file each
