"""Operating several processes: the Redis settings, and `coursebot health` while Redis is away and back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SettingsError, load_settings
from bot.core.shared.link import LinkState, RedisLink
from bot.health import Connections, check, heartbeat_path
from tests.redis_server import RedisServer


def test_redis_settings_are_checked_and_the_url_kept_secret() -> None:
    settings = load_settings(redis_url="redis://:hunter2@cache:6379/0", redis_fallback_share=0.25)
    assert settings.redis_url is not None and "hunter2" not in repr(settings)
    assert settings.redis_fallback_share == 0.25
    assert load_settings().redis_url is None and load_settings().redis_fallback_share is None
    with pytest.raises(SettingsError, match="COURSEBOT_REDIS_URL: .*must be a Redis URL"):
        load_settings(redis_url="http://cache:6379")
    with pytest.raises(SettingsError, match="COURSEBOT_REDIS_FALLBACK_SHARE"):
        load_settings(redis_fallback_share=0)


def test_redis_down_is_degraded_not_unhealthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "bot.db"
    monkeypatch.setenv("COURSEBOT_DB", str(db))
    connections = Connections(heartbeat_path(db))
    connections.expect("discord")
    connections.set("discord", True)
    down = LinkState(up=False, since=time.time(), share=1 / 3, reason="ConnectionError at cache:6379")
    connections.degrade("redis", down.describe())

    result = check(heartbeat_path(db), max_age=90, now=time.time() + 42)
    assert result.healthy
    assert result.summary.startswith("healthy, degraded: Redis unreachable (ConnectionError at cache:6379)")
    assert "33% of each rate budget" in result.summary and result.summary.endswith("(for 42 s)")
    shown = CliRunner().invoke(app, ["health"])
    assert shown.exit_code == 0 and shown.output.startswith("healthy, degraded: Redis unreachable")

    connections.degrade("redis", None)
    shown = CliRunner().invoke(app, ["health"])
    assert (shown.exit_code, shown.output.strip()) == (0, "healthy")


async def test_the_link_reports_each_change_to_the_health_file(own_redis: RedisServer, tmp_path: Path) -> None:
    connections = Connections(tmp_path / "hb")
    connections.write()  # the bot's first heartbeat
    link = RedisLink(
        own_redis.url, app="slack:abc", probe=0.05,
        on_change=lambda state: connections.degrade("redis", None if state.up else state.describe()),
    )
    await link.start()
    try:
        assert check(tmp_path / "hb", max_age=90).summary == "healthy"
        own_redis.kill()
        await link._keep_once()  # the keeper's next beat finds Redis gone
        assert check(tmp_path / "hb", max_age=90).summary.startswith("healthy, degraded: Redis unreachable")
        own_redis.start()
        await asyncio.wait_for(link.until_up(), timeout=10)
        assert check(tmp_path / "hb", max_age=90).summary == "healthy"
    finally:
        await link.close()
