"""The instructor's view and data rights on Slack, end to end (Socket Mode and HTTP): the chart and progress
CSV beside ``/course-stats``'s CSV, ``/progress export`` by DM, ``/course-forget`` with its confirmation."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from PIL import Image

from bot.core import data_rights
from bot.core.content.loader import load_course
from tests.e2e.learner_rows import all_rows, learner_id, rows_by_table
from tests.e2e.slack_harness import ADMIN, ALICE, BOB, CHANNEL, CONTENT, SlackBot
from tests.emulators.slack import Ephemeral, Message, Upload, buttons, validate_blocks

pytestmark = pytest.mark.e2e

MODULE = load_course(CONTENT).modules[5]
QUESTION = MODULE.quizzes[1].questions[0]


async def _answer_quiz(bot: SlackBot, answers: dict[str, bool]) -> None:
    quiz = await _posted(bot, "/quiz", "1", ALICE)
    wrong = next(option for option in QUESTION.options if not option.correct)
    for user, right in answers.items():
        seen = len(bot.slack.ephemerals_for(user))
        option = QUESTION.correct_option if right else wrong
        await bot.click(quiz, user=user, value=f"{MODULE.number}:1:{QUESTION.id}:{option.index}")
        await bot.new_ephemeral(user, seen)


async def _posted(bot: SlackBot, command: str, text: str, user: str) -> Message:
    """Run a command that posts in the channel; the message it posted."""
    before = len(bot.slack.channel_messages(CHANNEL))
    await bot.slash(command, text, user=user)
    return (await bot.wait_for(lambda: bot.slack.channel_messages(CHANNEL)[before:]))[0]


async def _read_lesson(bot: SlackBot, user: str, number: int) -> None:
    await _posted(bot, "/lesson", str(number), user)


def _uploads_to(bot: SlackBot, user: str) -> dict[str, Upload]:
    dm = "D" + user.lstrip("U")  # the emulator's conversations.open
    return {u.filename: u for u in bot.slack.uploads.values() if u.completed and u.channel == dm}


def _alice(bot: SlackBot) -> int:
    return learner_id(bot.settings.db, "slack", bot.slack.team_id, ALICE)


async def test_course_stats_sends_the_chart_and_progress_beside_the_csv(slack_bot: SlackBot) -> None:
    await _read_lesson(slack_bot, ALICE, 1)
    await _answer_quiz(slack_bot, {ALICE: True, BOB: False})
    await slack_bot.slash("/course-stats", user=ADMIN)
    files = await slack_bot.wait_for(lambda: _uploads_to(slack_bot, ADMIN))
    n = MODULE.number
    assert set(files) == {f"module-{n}-stats.csv", f"module-{n}-chart.png", f"module-{n}-progress.csv"}
    assert {u.initial_comment for u in files.values()} != {""}

    chart = Image.open(io.BytesIO(files[f"module-{n}-chart.png"].content))
    chart.load()
    assert chart.format == "PNG" and 800 <= chart.width <= 2000 and 400 <= chart.height <= 2000
    assert len(chart.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10

    rows = {r["user_id"]: r for r in csv.DictReader(io.StringIO(files[f"module-{n}-progress.csv"].content.decode()))}
    assert set(rows) == {ALICE, BOB}
    assert (rows[ALICE]["lessons_viewed"], rows[ALICE]["quiz_correct"], rows[BOB]["quiz_correct"]) == ("1", "1", "0")
    assert rows[BOB]["quiz_answered"] == "1" and rows[BOB]["platform"] == "slack"


async def test_progress_export_goes_to_the_learners_dm_with_exactly_their_rows(slack_bot: SlackBot) -> None:
    await _read_lesson(slack_bot, ALICE, 2)
    await _read_lesson(slack_bot, BOB, 1)
    await _answer_quiz(slack_bot, {ALICE: False, BOB: True})
    seen = len(slack_bot.slack.ephemerals_for(ALICE))
    await slack_bot.slash("/progress", "export", user=ALICE)
    note = await slack_bot.new_ephemeral(ALICE, seen)
    assert "direct messages" in note.shown
    [upload] = (await slack_bot.wait_for(lambda: _uploads_to(slack_bot, ALICE))).values()
    assert upload.filename == f"coursebot-data-slack-{ALICE}.json" and not _uploads_to(slack_bot, BOB)
    tables = json.loads(upload.content)["tables"]
    assert {table: len(rows) for table, rows in tables.items()} == rows_by_table(slack_bot.settings.db, _alice(slack_bot))
    assert [row["user_id"] for row in tables["learners"]] == [ALICE]
    assert [row["lesson"] for row in tables["lesson_views"]] == [2]
    assert [(row["question_id"], row["correct"]) for row in tables["quiz_answers"]] == [(QUESTION.id, 0)]


async def _confirmation(bot: SlackBot, target: str) -> Ephemeral:
    seen = len(bot.slack.ephemerals_for(ADMIN))
    await bot.slash("/course-forget", f"<@{target}|someone>", user=ADMIN)
    prompt = await bot.new_ephemeral(ADMIN, seen)
    validate_blocks(prompt.blocks)
    assert f"<@{target}>" in json.dumps(prompt.blocks)
    return prompt


async def test_forget_after_confirmation_removes_every_row_of_that_learner_only(slack_bot: SlackBot) -> None:
    db = slack_bot.settings.db
    for user in (ALICE, BOB):
        await _read_lesson(slack_bot, user, 1)
    await _answer_quiz(slack_bot, {ALICE: False, BOB: True})
    alice = _alice(slack_bot)
    bobs = rows_by_table(db, learner_id(db, "slack", slack_bot.slack.team_id, BOB))
    prompt = await _confirmation(slack_bot, ALICE)
    assert rows_by_table(db, alice)["quiz_answers"] == 1  # asking deletes nothing

    await slack_bot.click(prompt, user=ADMIN, text="🗑️ Delete their data")
    await slack_bot.wait_for(lambda: len(prompt.versions) > 1)
    assert "Deleted everything" in prompt.shown and not buttons(prompt.blocks)
    assert set(rows_by_table(db, alice).values()) == {0}
    assert rows_by_table(db, learner_id(db, "slack", slack_bot.slack.team_id, BOB)) == bobs


async def test_refused_cancelled_and_expired_forgets_change_nothing(
    slack_bot: SlackBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = slack_bot.settings.db
    await _read_lesson(slack_bot, ALICE, 1)
    before = all_rows(db)

    await slack_bot.slash("/course-forget", f"<@{ALICE}|alice>", user=BOB)  # not an instructor
    refused = await slack_bot.new_ephemeral(BOB, 0)
    assert "Only instructors" in refused.shown and not buttons(refused.blocks)

    seen = len(slack_bot.slack.ephemerals_for(ADMIN))
    await slack_bot.slash("/course-forget", "alice please", user=ADMIN)
    assert "Usage" in (await slack_bot.new_ephemeral(ADMIN, seen)).shown

    prompt = await _confirmation(slack_bot, ALICE)
    seen = len(slack_bot.slack.ephemerals_for(BOB))
    await slack_bot.click(prompt, user=BOB, text="🗑️ Delete their data")  # a press by a non-instructor
    assert "Only instructors" in (await slack_bot.new_ephemeral(BOB, seen)).shown
    await slack_bot.click(prompt, user=ADMIN, text="Cancel")
    await slack_bot.wait_for(lambda: len(prompt.versions) > 1)
    assert "nothing was deleted" in prompt.shown and not buttons(prompt.blocks)

    monkeypatch.setattr(data_rights, "CONFIRM_FOR", timedelta(seconds=-1))  # expired as soon as it is shown
    expired = await _confirmation(slack_bot, ALICE)
    await slack_bot.click(expired, user=ADMIN, text="🗑️ Delete their data")
    await slack_bot.wait_for(lambda: len(expired.versions) > 1)
    assert "expired" in expired.shown and not buttons(expired.blocks)
    assert all_rows(db) == before
