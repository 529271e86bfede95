"""Run the real bot (``bot.serve.serve``) against the Discord emulator and the fake Anthropic API.

``DiscordHarness.start()`` launches ``serve(settings, platforms=("discord",))`` as a task and waits until
the bot has synced its commands and identified on the gateway; ``stop()`` cancels it (a restart is
``stop()`` then ``start()`` on the same database). Helpers find the bot's answers in the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.discord_app import CourseBot
from bot.serve import serve
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.discord import DiscordEmulator, Message

CONTENT = Path(__file__).resolve().parents[2] / "content"


class DiscordHarness:
    def __init__(self, emulator: DiscordEmulator, settings: Settings) -> None:
        self.emulator = emulator
        self.settings = settings
        self._task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        identified = self.emulator.identified
        self.emulator.commands.clear()
        self._task = asyncio.create_task(serve(self.settings, platforms=("discord",)), name="discord-bot")

        def ready() -> bool:
            if self._task is not None and self._task.done():
                raise AssertionError(f"the bot stopped: {self._task.result()}")
            return self.emulator.identified > identified and bool(self.emulator.commands)

        await self.emulator.wait_until(ready, timeout=15)
        # let discord.py finish its guild-ready wait, so that stopping right away does not race it
        await asyncio.sleep(2 * CourseBot.guild_ready_seconds)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)
        self._task = None
        await self.emulator.wait_until(lambda: self.emulator.connected == 0, timeout=5)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def thread_messages(self, thread_id: int) -> list[Message]:
        return self.emulator.channel_messages(thread_id)

    def message_payloads(self) -> list[dict[str, Any]]:
        """Every request body that created or edited a message (REST, interaction responses, followups)."""
        bodies = []
        for method, path, payload in self.emulator.requests:
            if not isinstance(payload, dict):
                continue
            if path.endswith("/callback"):
                payload = payload.get("data") or {}
            elif method not in ("POST", "PATCH") or ("/messages" not in path and "/webhooks/" not in path):
                continue
            if {"content", "embeds", "components"} & payload.keys():
                bodies.append(payload)
        return bodies


def discord_settings(emulator: DiscordEmulator, anthropic: FakeAnthropic | None, db: Path, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "DISCORD_TOKEN": emulator.token,
        "DISCORD_API_BASE": emulator.api_base,
        "DISCORD_GATEWAY_URL": emulator.gateway_url,
        "DISCORD_GUILD_ID": emulator.guild_id,
        "COURSEBOT_DB": db,
        "COURSEBOT_CONTENT": CONTENT,
        "COURSEBOT_LOG_LEVEL": "INFO",
        "COURSEBOT_READ_TIMEOUT": 5.0,
        "COURSEBOT_MAX_RETRIES": 0,
        "SLACK_BOT_TOKEN": None,
    }
    if anthropic is not None:
        overrides |= {"ANTHROPIC_API_KEY": anthropic.api_key, "ANTHROPIC_BASE_URL": anthropic.url}
    else:
        overrides["ANTHROPIC_API_KEY"] = None
    return load_settings(**(overrides | extra))
