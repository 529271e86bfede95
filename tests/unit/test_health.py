"""coursebot health: the heartbeat's age and each platform connection's state."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from bot.health import DOWN_LIMIT, Connections, check, heartbeat_path


def _write(path: Path, platforms: dict[str, dict[str, object]]) -> None:
    path.write_text(json.dumps({"platforms": platforms}), encoding="utf-8")


def test_no_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    result = check(tmp_path / "bot.db.heartbeat", max_age=90)
    assert not result.healthy and "not running" in result.reason


def test_a_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    _write(path, {})
    os.utime(path, (time.time() - 200, time.time() - 200))
    result = check(path, max_age=90)
    assert not result.healthy and "no heartbeat for 2" in result.reason


def test_connections_up_are_healthy(tmp_path: Path) -> None:
    connections = Connections(tmp_path / "hb")
    connections.expect("discord")
    connections.expect("slack")
    connections.set("discord", True)
    connections.set("slack", True)
    assert check(tmp_path / "hb", max_age=90).healthy


def test_a_connection_down_over_a_minute_is_named(tmp_path: Path) -> None:
    connections = Connections(tmp_path / "hb")
    connections.expect("discord")
    connections.expect("slack")
    connections.set("slack", True)
    soon, later = time.time() + DOWN_LIMIT - 5, time.time() + DOWN_LIMIT + 5
    assert check(tmp_path / "hb", max_age=600, now=soon).healthy  # a short outage is not yet unhealthy
    result = check(tmp_path / "hb", max_age=600, now=later)
    assert not result.healthy
    assert result.reason.startswith("Discord gateway down for 6") and "Slack" not in result.reason


def test_a_reconnect_resets_the_outage(tmp_path: Path) -> None:
    connections = Connections(tmp_path / "hb")
    connections.expect("slack")
    connections.set("slack", True)
    connections.set("slack", False)
    down_since = json.loads((tmp_path / "hb").read_text())["platforms"]["slack"]["since"]
    connections.set("slack", False)  # still down: the outage keeps its start
    assert json.loads((tmp_path / "hb").read_text())["platforms"]["slack"]["since"] == down_since
    assert not check(tmp_path / "hb", max_age=600, now=down_since + DOWN_LIMIT + 1).healthy
    connections.set("slack", True)
    assert check(tmp_path / "hb", max_age=600, now=down_since + DOWN_LIMIT + 1).healthy


def test_health_command_says_which(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "bot.db"
    monkeypatch.setenv("COURSEBOT_DB", str(db))
    _write(heartbeat_path(db), {"slack": {"connected": False, "since": time.time() - 120}})
    result = CliRunner().invoke(app, ["health"])
    assert result.exit_code == 1
    assert result.output.startswith("unhealthy: Slack socket down for 12")
    _write(heartbeat_path(db), {"slack": {"connected": True, "since": time.time() - 120}})
    result = CliRunner().invoke(app, ["health"])
    assert (result.exit_code, result.output.strip()) == (0, "healthy")


def _beat_often(path: str) -> None:
    connections = Connections(Path(path))
    for n in range(300):
        connections.set("discord", n % 2 == 0)


def test_processes_sharing_a_heartbeat_path_never_collide(tmp_path: Path) -> None:
    """Several bot processes on one host share the default path; none may crash while writing it."""
    import multiprocessing

    path = tmp_path / "coursebot.heartbeat"
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_beat_often, args=(str(path),)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    assert check(path, max_age=90).healthy
