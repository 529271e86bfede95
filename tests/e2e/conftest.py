"""Fixtures for the end-to-end tests (shared by the platform engineers: add yours, keep each independent)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.core import review as reviews
from tests.e2e.discord_harness import DiscordHarness, discord_settings
from tests.e2e.review_clock import CHECK_SECONDS, TravelClock
from tests.e2e.slack_harness import SlackBot, running_slack_bot
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.discord import DiscordEmulator
from tests.emulators.slack import SlackEmulator


@pytest.fixture
async def slack_emulator() -> AsyncIterator[SlackEmulator]:
    """A Slack workspace on 127.0.0.1 with real rate-limit windows."""
    async with SlackEmulator() as slack:
        yield slack


@pytest.fixture(params=["socket", "http"])
async def slack_bot(
    request: pytest.FixtureRequest, slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> AsyncIterator[SlackBot]:
    """The real bot in Socket Mode and (second run) HTTP mode, against the emulator and the fake Claude."""
    async with running_slack_bot(slack_emulator, tmp_path / "course.db", mode=request.param,
                                 anthropic=fake_anthropic) as bot:
        yield bot


@pytest.fixture
def fast_discord(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorten the bot's waits that only exist for real Discord (guild readiness, count-edit spacing)."""
    from bot.discord_app import CourseBot

    monkeypatch.setattr(CourseBot, "guild_ready_seconds", 0.05)
    monkeypatch.setattr(CourseBot, "count_edit_seconds", 0.3)


@pytest.fixture
async def discord_emulator() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator


@pytest.fixture
async def discord_bot(
    discord_emulator: DiscordEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path, fast_discord: None
) -> AsyncIterator[DiscordHarness]:
    """The real bot, connected to the emulator, with Claude answered by the fake Anthropic server."""
    harness = DiscordHarness(discord_emulator, discord_settings(discord_emulator, fake_anthropic, tmp_path / "bot.db"))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[TravelClock]:
    """Spaced review on a clock the test can move forward, its reminder loop checking often."""
    travel = TravelClock()
    monkeypatch.setattr(reviews, "utc_now", travel)
    monkeypatch.setattr(reviews, "REMINDER_CHECK_SECONDS", CHECK_SECONDS)
    yield travel
