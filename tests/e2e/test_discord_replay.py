"""A replayed interaction (Discord delivers one the bot already answered) is a debug line, not an ERROR."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.discord_harness import DiscordHarness
from tests.emulators.discord import DiscordEmulator, Interaction

pytestmark = pytest.mark.e2e


async def _replay_answered(
    discord_bot: DiscordHarness, make: Callable[[DiscordEmulator], Awaitable[Interaction]]
) -> None:
    emu = discord_bot.emulator
    interaction = await make(emu)
    await emu.responded(interaction)
    requests = len(emu.requests)
    await emu._interact(interaction)  # the same id and token again: its callback gets 40060
    await emu.wait_until(lambda: any(p.endswith("/callback") for _, p, _ in emu.requests[requests:]), timeout=10)
    await asyncio.sleep(0.2)  # let the bot's error path run to its end


@pytest.mark.parametrize("kind", ["slash", "button"])
async def test_a_replayed_interaction_is_a_debug_line(
    discord_bot: DiscordHarness, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")

    async def make(emu: DiscordEmulator) -> Interaction:
        if kind == "slash":
            return await emu.slash(alice, "progress")
        (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
        return await emu.click(alice, quiz, quiz.buttons()[0]["custom_id"])

    with caplog.at_level(logging.DEBUG, logger="bot"):
        await _replay_answered(discord_bot, make)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("bot", "discord"))]
    assert problems == [], [r.getMessage() for r in problems]
    assert any("already acknowledged" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
