"""/review end to end on Slack: a missed quiz question comes back on FSRS's schedule, reminders by DM once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from fsrs import State

from bot.core.content.loader import load_course
from tests.e2e.review_clock import CHECK_SECONDS, TravelClock
from tests.e2e.slack_harness import ALICE, BOB, CHANNEL, CONTENT, running_slack_bot
from tests.emulators.slack import SlackEmulator, validate_blocks

MODULE = load_course(CONTENT).modules[5]
QUESTION = MODULE.quizzes[1].questions[0]
RIGHT = QUESTION.correct_option
WRONG = next(option for option in QUESTION.options if not option.correct)
ALICE_DM = "D" + ALICE.lstrip("U")  # the emulator's conversations.open




def stored(db: Path, sql: str) -> tuple:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchone()


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_a_missed_question_comes_back_with_fsrs_and_one_reminder_dm(
    slack_emulator: SlackEmulator, tmp_path: Path, clock: TravelClock, mode: str,
) -> None:
    db = tmp_path / "course.db"
    async with running_slack_bot(slack_emulator, db, mode=mode, anthropic=None) as bot:  # type: ignore[arg-type]
        slack = bot.slack
        await bot.slash("/quiz", "1")
        [quiz] = await bot.wait_for(lambda: slack.channel_messages(CHANNEL))
        await bot.click(quiz, user=ALICE, value=f"{MODULE.number}:1:{QUESTION.id}:{WRONG.index}")
        await bot.new_ephemeral(ALICE, 0)

        await bot.slash("/review")
        early = await bot.new_ephemeral(ALICE, 1)
        assert "comes back in 1 minute" in early.shown
        await bot.slash("/review", "remind maybe")
        refused = await bot.new_ephemeral(ALICE, 2)
        assert "Usage" in refused.shown and stored(db, "SELECT COUNT(*) FROM review_reminders") == (0,)
        await bot.slash("/review", "remind on")
        assert "Reminders on" in (await bot.new_ephemeral(ALICE, 3)).shown
        await asyncio.sleep(10 * CHECK_SECONDS)
        assert slack.channel_messages(ALICE_DM) == []  # nothing due yet

        clock.offset = timedelta(minutes=2)
        [reminder] = await bot.wait_for(lambda: slack.channel_messages(ALICE_DM))
        assert "1 review question is due" in reminder.shown
        validate_blocks(reminder.blocks)
        await asyncio.sleep(20 * CHECK_SECONDS)  # many more rounds: still one reminder
        assert len(slack.channel_messages(ALICE_DM)) == 1

        await bot.slash("/review")
        item = await bot.new_ephemeral(ALICE, 4)
        validate_blocks(item.blocks)
        assert "Review · Lesson 1 quiz" in item.shown
        await bot.click(item, user=ALICE, action_id=f"review:answer:{WRONG.index}")
        await bot.wait_for(lambda: len(item.versions) == 2)
        assert item.shown.startswith("❌ You chose") and "comes back in 1 minute" in item.shown
        reviewed, card = stored(db, "SELECT reviews, card FROM review_cards")
        assert reviewed == 2 and json.loads(card)["state"] == State.Learning.value

        clock.offset += timedelta(minutes=2)
        await bot.slash("/review")
        again = await bot.new_ephemeral(ALICE, 5)
        assert "Review · Lesson 1 quiz" in again.shown  # the missed question, scheduled again
        await bot.click(again, user=BOB, action_id=f"review:answer:{RIGHT.index}")
        assert "not yours" in (await bot.new_ephemeral(BOB, 0)).shown and len(again.versions) == 1
        await bot.click(again, user=ALICE, action_id=f"review:answer:{RIGHT.index}")
        await bot.wait_for(lambda: len(again.versions) == 2)
        assert again.shown.startswith("✅ You chose") and "comes back in 10 minutes" in again.shown
        assert stored(db, "SELECT reviews FROM review_cards") == (3,)

        await bot.slash("/progress")
        progress = await bot.new_ephemeral(ALICE, 6)
        assert "Review" in progress.shown and "comes back in 10 minutes" in progress.shown

        await bot.click(reminder, user=ALICE, action_id="review:remind-off")
        await bot.wait_for(lambda: "reminders are off" in reminder.shown)
        assert stored(db, "SELECT enabled FROM review_reminders") == (0,)
