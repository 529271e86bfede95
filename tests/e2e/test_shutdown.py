"""SIGTERM and SIGINT stop a real ``coursebot`` process in order: drain the answers, disconnect, exit 0.

The bot runs as a subprocess (as Docker runs it) against the emulators; the signal is a real signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.health import heartbeat_path
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.discord import DiscordEmulator
from tests.emulators.slack import SlackEmulator

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
GRACE = 3.0


async def _start(tmp_path: Path, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COURSEBOT_", "DISCORD_", "SLACK_"))}
    base.update(COURSEBOT_DB=str(tmp_path / "course.db"), COURSEBOT_CONTENT=str(CONTENT),
                COURSEBOT_LOG_LEVEL="INFO", COURSEBOT_SHUTDOWN_GRACE=str(GRACE), **env)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=base, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _until(ready: Callable[[], bool], process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if ready():
            return
        if process.returncode is not None:
            raise AssertionError(f"the bot exited with {process.returncode}: {(await process.stderr.read()).decode()}")
        await asyncio.sleep(0.05)
    raise AssertionError("the bot did not connect")


async def _stopped(process: asyncio.subprocess.Process, signum: signal.Signals) -> str:
    process.send_signal(signum)
    # the drain waits up to GRACE s for running answers; the bound only keeps a hung process from hanging the suite
    _, err = await asyncio.wait_for(process.communicate(), GRACE + 20)
    log = err.decode()
    assert process.returncode == 0, log
    return log


def _connected(tmp_path: Path, platform: str) -> bool:
    """The bot's heartbeat file says ``platform`` is connected (what ``coursebot health`` reads)."""
    try:
        heartbeat = json.loads(heartbeat_path(tmp_path / "course.db").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return bool(heartbeat["platforms"].get(platform, {}).get("connected"))


def _in_order(log: str, *lines: str) -> None:
    positions = [log.find(line) for line in lines]
    assert -1 not in positions and positions == sorted(positions), log


def _discord_env(emulator: DiscordEmulator, fake: FakeAnthropic) -> dict[str, str]:
    return {"DISCORD_TOKEN": emulator.token, "DISCORD_API_BASE": emulator.api_base,
            "DISCORD_GATEWAY_URL": emulator.gateway_url, "DISCORD_GUILD_ID": str(emulator.guild_id),
            "ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}


@pytest.mark.parametrize(("args", "signum"), [(("discord",), signal.SIGTERM), ((), signal.SIGINT)])
async def test_discord_stops_in_order_on_a_signal(
    tmp_path: Path, discord_emulator: DiscordEmulator, fake_anthropic: FakeAnthropic,
    args: tuple[str, ...], signum: signal.Signals,
) -> None:
    process = await _start(tmp_path, *args, env=_discord_env(discord_emulator, fake_anthropic))
    await _until(lambda: bool(discord_emulator.commands) and _connected(tmp_path, "discord"), process)
    log = await _stopped(process, signum)
    _in_order(log, f"{signum.name}: stopping", f"finishing running lab answers (up to {GRACE:.0f} s)",
              "coursebot stopped")
    assert "Traceback" not in log
    assert discord_emulator.connected == 0


async def test_slack_socket_mode_stops_in_order_on_sigterm(tmp_path: Path, slack_emulator: SlackEmulator) -> None:
    env = {"SLACK_BOT_TOKEN": slack_emulator.bot_token, "SLACK_APP_TOKEN": slack_emulator.app_token,
           "SLACK_API_URL": slack_emulator.api_url}
    process = await _start(tmp_path, "slack", env=env)
    await _until(lambda: _connected(tmp_path, "slack"), process)
    log = await _stopped(process, signal.SIGTERM)
    _in_order(log, "SIGTERM: stopping", "finishing running lab answers", "coursebot stopped")
    assert "Traceback" not in log
