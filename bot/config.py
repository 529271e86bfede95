"""Settings: one object read from the environment and an optional ``.env`` file.

Secrets are ``SecretStr`` so that a ``repr``/log of the settings never shows them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from bot.health import heartbeat_path

DEFAULT_MODEL = "claude-haiku-5-5"  # fast and inexpensive; listed in anthropic.types.Model


class Settings(BaseSettings):
    """Every setting coursebot reads. Names are the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        env_ignore_empty=True,  # "DISCORD_TOKEN=" in .env means unset, not an empty token
    )

    # Discord
    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")
    discord_api_base: str = Field(default="https://discord.com/api/v10", alias="DISCORD_API_BASE")
    discord_gateway_url: str | None = Field(default=None, alias="DISCORD_GATEWAY_URL")
    discord_guild_id: int | None = Field(default=None, alias="DISCORD_GUILD_ID")
    discord_pass_role_id: int | None = Field(default=None, alias="DISCORD_PASS_ROLE_ID")

    # Slack
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    slack_instructors: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="SLACK_INSTRUCTORS")
    slack_native_streaming: bool = Field(default=True, alias="SLACK_NATIVE_STREAMING")

    # Anthropic
    anthropic_api_key: SecretStr | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    model: str = Field(default=DEFAULT_MODEL, alias="COURSEBOT_MODEL")
    max_tokens: int = Field(default=1024, ge=64, le=32000, alias="COURSEBOT_MAX_TOKENS")
    read_timeout: float = Field(default=60.0, gt=0, le=600, alias="COURSEBOT_READ_TIMEOUT")
    max_retries: int = Field(default=2, ge=0, le=10, alias="COURSEBOT_MAX_RETRIES")
    history_budget_chars: int = Field(default=24000, ge=1000, alias="COURSEBOT_HISTORY_CHARS")
    max_question_chars: int = Field(default=1500, ge=50, le=4000, alias="COURSEBOT_MAX_QUESTION_CHARS")

    # Limits that keep a class fair and the bill bounded
    answers_per_learner: int = Field(default=2, ge=1, le=20, alias="COURSEBOT_ANSWERS_PER_LEARNER")
    max_concurrent_answers: int = Field(default=100, ge=1, le=10000, alias="COURSEBOT_MAX_CONCURRENT_ANSWERS")
    questions_per_hour: int = Field(default=30, ge=1, alias="COURSEBOT_QUESTIONS_PER_HOUR")
    tokens_per_day: int = Field(default=60000, ge=100, alias="COURSEBOT_TOKENS_PER_DAY")
    config_error_cooldown: float = Field(default=300.0, ge=1, le=86400, alias="COURSEBOT_CONFIG_ERROR_COOLDOWN")
    shutdown_grace: float = Field(default=7.0, ge=0, le=120, alias="COURSEBOT_SHUTDOWN_GRACE")

    # Several processes of one bot (issue 10): rate budgets, answer slots and Stop shared through Redis
    redis_url: SecretStr | None = Field(default=None, alias="COURSEBOT_REDIS_URL")  # may carry a password
    redis_fallback_share: float | None = Field(default=None, gt=0, le=1, alias="COURSEBOT_REDIS_FALLBACK_SHARE")

    # Discord shards: this process runs shards COURSEBOT_SHARD_IDS of COURSEBOT_SHARD_COUNT (all of them if unset)
    shard_count: int | None = Field(default=None, ge=1, le=1024, alias="COURSEBOT_SHARD_COUNT")
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, alias="COURSEBOT_SHARD_IDS")

    # Course. COURSEBOT_DB: a SQLite file (the embedded default) or a postgresql:// URL (several processes)
    db: str = Field(default="coursebot.db", alias="COURSEBOT_DB")
    # The health file `coursebot health` reads; default: beside the SQLite file, or in the temp folder
    heartbeat: Path | None = Field(default=None, alias="COURSEBOT_HEARTBEAT")
    content: Path = Field(default=Path("content"), alias="COURSEBOT_CONTENT")
    log_level: str = Field(default="INFO", alias="COURSEBOT_LOG_LEVEL")

    @field_validator("slack_instructors", "shard_ids", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("db", mode="before")
    @classmethod
    def _path_text(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("COURSEBOT_SHARD_IDS needs COURSEBOT_SHARD_COUNT")
        if self.shard_count is not None and any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(f"COURSEBOT_SHARD_IDS must be between 0 and {self.shard_count - 1}")
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL: redis://host:6379/0, rediss://… (TLS) or unix:///path")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def files_base(self) -> Path:
        """What the bot's own files (heartbeat, console log, exports) are named after: the SQLite file, or
        ``coursebot.db`` in the working directory when the database is PostgreSQL."""
        return Path("coursebot.db") if self.db.startswith(("postgresql://", "postgres://")) else Path(self.db)

    @property
    def heartbeat_file(self) -> Path:
        """Where the running bot writes its health and ``coursebot health`` reads it."""
        if self.heartbeat is not None:
            return self.heartbeat
        if self.db.startswith(("postgresql://", "postgres://")):  # no file of ours: somewhere writable
            return Path(tempfile.gettempdir()) / "coursebot.heartbeat"
        return heartbeat_path(Path(self.db))

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def claude_enabled(self) -> bool:
        return self.anthropic_api_key is not None


class SettingsError(Exception):
    """A setting has an invalid value; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SourceError as exc:  # a value pydantic-settings could not even decode
        raise SettingsError(f"invalid setting: {exc}") from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "settings"
            field = Settings.model_fields.get(name)
            variable = field.alias if field and field.alias else name.upper()
            lines.append(f"invalid setting {variable}: {error['msg']}")
        raise SettingsError("\n".join(lines)) from None
