"""Run the real bot (``bot.serve.serve``) against the Slack emulator and the fake Anthropic API."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings, load_settings
from bot.serve import serve
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.slack import Ephemeral, Message, Mode, SlackEmulator

CONTENT = Path(__file__).resolve().parents[2] / "content"
CHANNEL = "CCOURSE"
ALICE, BOB, ADMIN = "UALICE01", "UBOB0001", "UADMIN01"


def slack_settings(slack: SlackEmulator, db: Path, *, mode: Mode, anthropic: FakeAnthropic | None,
                   **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_app_token": slack.app_token if mode == "socket" else None,
        "slack_signing_secret": slack.signing_secret,
        "slack_api_url": slack.api_url,
        "discord_token": None,
        "anthropic_api_key": "test-key" if anthropic is not None else None,
        "anthropic_base_url": anthropic.url if anthropic is not None else None,
        "max_retries": 0,
        "db": db,
        "content": CONTENT,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int, task: asyncio.Task[Any], timeout: float = 10.0) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(timeout / 0.05)):
            if task.done():
                raise RuntimeError(f"the bot stopped: {task.result()!r}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/slack/events"):
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError("the bot's HTTP port never opened")


@dataclass
class SlackBot:
    """The running bot, seen from the workspace: every helper goes through the emulator in ``mode``."""

    slack: SlackEmulator
    mode: Mode
    settings: Settings
    task: asyncio.Task[int]

    async def slash(self, command: str, text: str = "", *, user: str = ALICE, channel: str = CHANNEL,
                    secret: str | None = None) -> tuple[int, Any]:
        return await self.slack.slash(command, text, user=user, channel=channel, mode=self.mode, secret=secret)

    async def click(self, where: Message | Ephemeral, *, user: str = ALICE, secret: str | None = None,
                    **match: Any) -> tuple[int, Any]:
        return await self.slack.click(where, user=user, mode=self.mode, secret=secret, **match)

    async def say(self, text: str, *, thread_ts: str, user: str = ALICE, channel: str = CHANNEL,
                  secret: str | None = None) -> Message:
        return await self.slack.say(text, user=user, channel=channel, thread_ts=thread_ts, mode=self.mode,
                                    secret=secret)

    async def open_home(self, user: str = ALICE) -> tuple[int, Any]:
        return await self.slack.open_home(user, mode=self.mode)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy; fail at once if the bot stopped."""
        async def watch() -> None:
            await asyncio.shield(self.task)
            raise AssertionError(f"the bot stopped with exit code {self.task.result()}")

        watcher = asyncio.ensure_future(watch())
        try:
            waiting = asyncio.ensure_future(self.slack.wait_for(predicate, timeout))
            done, _ = await asyncio.wait({watcher, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if waiting not in done:
                waiting.cancel()
            return (waiting if waiting in done else watcher).result()
        finally:
            watcher.cancel()

    async def new_ephemeral(self, user: str, seen: int, timeout: float = 10.0) -> Ephemeral:
        """The first ephemeral message for ``user`` after the ``seen`` they already had."""
        found = await self.wait_for(lambda: self.slack.ephemerals_for(user)[seen:], timeout)
        return found[0]


@contextlib.asynccontextmanager
async def running_slack_bot(slack: SlackEmulator, db: Path, *, mode: Mode, anthropic: FakeAnthropic | None,
                            **overrides: Any) -> AsyncIterator[SlackBot]:
    """Start the bot like ``coursebot slack`` does and stop it (cancelling ``serve``) afterwards."""
    for user, name, admin in ((ALICE, "alice", False), (BOB, "bob", False), (ADMIN, "ada", True)):
        if user not in slack.users:
            slack.add_user(user, name, is_admin=admin)
    settings = slack_settings(slack, db, mode=mode, anthropic=anthropic, **overrides)
    port = free_port()
    connections = slack.socket_connections
    task = asyncio.create_task(serve(settings, platforms=("slack",), slack_port=port, slack_host="127.0.0.1"))
    try:
        if mode == "socket":
            await slack.wait_for(lambda: slack.socket_connections > connections, 10.0)
            slack.bot_url = None
        else:
            await _wait_listening(port, task)
            slack.bot_url = f"http://127.0.0.1:{port}/slack/events"
        yield SlackBot(slack, mode, settings, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
