"""The bot as a whole: command sync, the shared error handler, what every message may mention."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cogs.errors import APOLOGY
from bot.core.course import CourseService
from tests.e2e.discord_harness import DiscordHarness, discord_settings
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.discord import DiscordEmulator

COMMANDS = {"lesson", "quiz", "test", "lab", "ask", "progress", "course", "review"}


async def test_commands_sync_to_the_configured_guild(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    assert {c["name"] for c in emu.commands[emu.guild_id]} == COMMANDS
    assert None not in emu.commands


async def test_commands_sync_globally_without_a_guild(
    discord_emulator: DiscordEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path, fast_discord: None
) -> None:
    emu = discord_emulator
    harness = DiscordHarness(emu, discord_settings(emu, fake_anthropic, tmp_path / "db.sqlite", DISCORD_GUILD_ID=None))
    await harness.start()
    try:
        assert {c["name"] for c in emu.commands[None]} == COMMANDS
        assert emu.guild_id not in emu.commands
        (reply,) = await emu.responded(await emu.slash(emu.add_user("alice"), "progress"))
        assert reply.ephemeral and "progress" in reply.text()
    finally:
        await harness.stop()


@pytest.fixture
def error_log() -> Iterator[list[logging.LogRecord]]:
    """What the shared error handler logs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("bot.cogs.errors").addHandler(handler)
    yield records
    logging.getLogger("bot.cogs.errors").removeHandler(handler)


async def broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("database on fire")


async def test_unexpected_error_gets_an_apology_and_a_logged_traceback(
    discord_bot: DiscordHarness, monkeypatch: pytest.MonkeyPatch, error_log: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(CourseService, "progress", broken)
    emu = discord_bot.emulator
    (reply,) = await emu.responded(await emu.slash(emu.add_user("alice"), "progress"))
    assert reply.ephemeral and reply.content == APOLOGY
    (record,) = error_log
    assert record.exc_info and "database on fire" in str(record.exc_info[1])


async def test_a_failing_button_gets_an_apology_and_a_logged_traceback(
    discord_bot: DiscordHarness, monkeypatch: pytest.MonkeyPatch, error_log: list[logging.LogRecord]
) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    monkeypatch.setattr(CourseService, "answer_quiz", broken)
    (reply,) = await emu.responded(await emu.click(alice, quiz, quiz.buttons()[0]["custom_id"]))
    assert reply.ephemeral and reply.content == APOLOGY
    (record,) = error_log
    assert "component" in record.getMessage() and "database on fire" in str(record.exc_info[1])  # type: ignore[index]
    assert quiz.contents == [quiz.contents[0]]  # the quiz message is untouched


async def test_every_message_the_bot_sends_mentions_nobody(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    await emu.responded(await emu.slash(alice, "lesson", number=1))
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    await emu.responded(await emu.click(alice, quiz, quiz.buttons()[0]["custom_id"]))
    await emu.responded(await emu.slash(alice, "test"))
    await emu.responded(await emu.slash(alice, "progress"))
    payloads = discord_bot.message_payloads()
    assert len(payloads) >= 5
    assert all(p.get("allowed_mentions") == {"parse": []} for p in payloads if "content" in p or "embeds" in p)


async def test_a_rejected_token_stops_with_a_clear_log_and_no_secret(
    discord_emulator: DiscordEmulator, tmp_path: Path, fast_discord: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.serve import serve

    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.wrong-token-value-that-must-not-leak-123"
    settings = discord_settings(discord_emulator, None, tmp_path / "db.sqlite", DISCORD_TOKEN=token)
    assert await serve(settings, platforms=("discord",)) == 1
    logs = capsys.readouterr().err
    assert "Discord rejected DISCORD_TOKEN" in logs
    assert token not in logs and "wrong-token-value" not in logs
    assert discord_emulator.identified == 0


async def test_a_dropped_gateway_connection_resumes_and_the_bot_keeps_working(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    identified = emu.identified
    await emu.drop_connections()
    await emu.wait_until(lambda: emu.resumed == 1 and emu.connected == 1, timeout=15)
    assert emu.identified == identified  # resumed, not a fresh session
    (reply,) = await emu.responded(await emu.slash(emu.add_user("alice"), "progress"))
    assert reply.ephemeral and "progress" in reply.text()
