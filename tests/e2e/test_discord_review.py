"""/review end to end on Discord: a missed quiz question comes back on FSRS's schedule, reminders by DM once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fsrs import State

from bot.core.content.loader import load_course
from tests.e2e.discord_harness import CONTENT, DiscordHarness, discord_settings
from tests.e2e.review_clock import CHECK_SECONDS, TravelClock
from tests.emulators.discord import DiscordEmulator, Message

COURSE = load_course(CONTENT)
QUIZ = COURSE.modules[COURSE.default_module].quizzes[1]
QUESTION = QUIZ.questions[0]
RIGHT = QUESTION.correct_option
WRONG = next(option for option in QUESTION.options if not option.correct)




@pytest.fixture
async def bot(discord_emulator: DiscordEmulator, tmp_path: Path, fast_discord: None,
              clock: TravelClock) -> AsyncIterator[DiscordHarness]:
    harness = DiscordHarness(discord_emulator, discord_settings(discord_emulator, None, tmp_path / "bot.db"))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def stored_card(db: Path) -> tuple[int, dict[str, object], str]:
    with closing(sqlite3.connect(db)) as conn:
        reviews_count, card, due = conn.execute("SELECT reviews, card, due FROM review_cards").fetchone()
    return reviews_count, json.loads(card), due


def option_button(message: Message, letter: str) -> str:
    return message.button(letter)["custom_id"]


async def test_a_missed_question_comes_back_with_fsrs_and_one_reminder_dm(
    bot: DiscordHarness, clock: TravelClock, tmp_path: Path,
) -> None:
    emu = bot.emulator
    alice = emu.add_user("alice")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    wrong_id = next(b["custom_id"] for b in quiz.buttons() if b["custom_id"].endswith(f":{QUESTION.id}:{WRONG.index}"))
    await emu.responded(await emu.click(alice, quiz, wrong_id))

    (early,) = await emu.responded(await emu.slash(alice, "review"))
    assert early.ephemeral and "comes back in 1 minute" in early.content  # FSRS's first learning step

    (on,) = await emu.responded(await emu.slash(alice, "review", remind="on"))
    assert on.ephemeral and "Reminders on" in on.content
    await asyncio.sleep(10 * CHECK_SECONDS)
    assert emu.dm_channel(alice) is None  # nothing is due yet: no reminder

    clock.offset = timedelta(minutes=2)
    dm_id = await emu.wait_until(lambda: emu.dm_channel(alice))
    (reminder,) = await emu.wait_until(lambda: emu.channel_messages(dm_id))
    assert "1 review question is due" in reminder.content
    await asyncio.sleep(20 * CHECK_SECONDS)  # many more reminder rounds: still one message
    assert len(emu.channel_messages(dm_id)) == 1

    (item,) = await emu.responded(await emu.slash(alice, "review"))
    assert item.ephemeral and "Review · Lesson 1 quiz" in item.text() and QUESTION.prompt[:40] in item.text()
    click = await emu.click(alice, item, option_button(item, WRONG.letter))
    await emu.acknowledged(click)
    assert "❌ Not quite" in item.content and "comes back in 1 minute" in item.content
    assert item.buttons() == []  # nothing else is due
    reviewed, card, due = stored_card(tmp_path / "bot.db")
    assert reviewed == 2 and card["state"] == State.Learning.value and card["step"] == 0
    assert card["due"] == datetime.fromisoformat(due).isoformat()

    (waiting,) = await emu.responded(await emu.slash(alice, "review"))
    assert "comes back in 1 minute" in waiting.content and waiting.buttons() == []
    clock.offset += timedelta(minutes=2)
    (again,) = await emu.responded(await emu.slash(alice, "review"))
    assert QUESTION.prompt[:40] in again.text()  # the missed question, scheduled again
    await emu.acknowledged(await emu.click(alice, again, option_button(again, RIGHT.letter)))
    assert "✅ Correct!" in again.content and "comes back in 10 minutes" in again.content
    reviewed, card, _ = stored_card(tmp_path / "bot.db")
    assert reviewed == 3 and card["step"] == 1

    (progress,) = await emu.responded(await emu.slash(alice, "progress"))
    assert "Review" in progress.text() and "comes back in 10 minutes" in progress.text()

    off = await emu.click(alice, reminder, reminder.button("Turn off reminders")["custom_id"])
    await emu.acknowledged(off)
    assert "reminders are off" in reminder.content and reminder.buttons() == []
    with closing(sqlite3.connect(tmp_path / "bot.db")) as conn:
        assert conn.execute("SELECT enabled FROM review_reminders").fetchone() == (0,)


async def test_a_review_button_is_for_its_learner_only(bot: DiscordHarness, clock: TravelClock) -> None:
    emu = bot.emulator
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    wrong_id = next(b["custom_id"] for b in quiz.buttons() if b["custom_id"].endswith(f":{QUESTION.id}:{WRONG.index}"))
    await emu.responded(await emu.click(alice, quiz, wrong_id))
    clock.offset = timedelta(minutes=2)
    (item,) = await emu.responded(await emu.slash(alice, "review"))
    (refused,) = await emu.responded(await emu.click(bob, item, option_button(item, RIGHT.letter)))
    assert refused.ephemeral and "not yours" in refused.content
    assert "Review · Lesson 1 quiz" in item.text() and len(item.versions) == 1
