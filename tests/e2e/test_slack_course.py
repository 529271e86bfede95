"""Lessons, quizzes, the module test, progress and statistics in Slack, end to end (Socket Mode and HTTP)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from bot.core.content.loader import load_course
from bot.core.content.model import Question
from tests.e2e.shown_options import shown_index
from tests.e2e.slack_harness import ADMIN, ALICE, BOB, CHANNEL, CONTENT, SlackBot, running_slack_bot
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.slack import Ephemeral, SlackEmulator, buttons, validate_blocks

pytestmark = pytest.mark.e2e

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]
assert MODULE.test is not None
TEST_QUESTIONS = MODULE.test.questions


async def test_lesson_posts_block_kit_with_quiz_and_lab_buttons(slack_bot: SlackBot) -> None:
    status, ack = await slack_bot.slash("/lesson", "1")
    assert status == 200 and not ack
    [message] = await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL))
    validate_blocks(message.blocks)
    assert message.blocks[0]["type"] == "header"
    assert MODULE.lessons[1].title in message.blocks[0]["text"]["text"]
    text = message.shown
    assert "```" in text, "tables and code are preformatted"
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    assert "**" not in prose and "*time to first token (TTFT)*" in prose, "Markdown bold became mrkdwn bold"
    assert any(b["type"] == "context" and "TTFT" in json.dumps(b) for b in message.blocks), "key terms as context"
    labels = {b["text"]["text"] for b in buttons(message.blocks)}
    assert labels == {"Take the quiz", "Open the lab"}

    await slack_bot.click(message, text="Take the quiz")
    quiz = (await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL)[1:]))[0]
    assert quiz.blocks[0]["text"]["text"].startswith("Quiz:")
    await slack_bot.click(message, text="Open the lab", user=BOB)
    lab = (await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL)[2:]))[0]
    assert lab.blocks[0]["text"]["text"].startswith("Lab 1:") and "This is bob's lab." in lab.shown


async def test_every_lesson_fits_slack_limits(slack_bot: SlackBot) -> None:
    for number in MODULE.lesson_numbers:
        await slack_bot.slash("/lesson", str(number))
    messages = await slack_bot.wait_for(
        lambda: (found := slack_bot.slack.channel_messages(CHANNEL)) and len(found) >= len(MODULE.lessons) and found)
    for message in messages:
        validate_blocks(message.blocks)
    assert [c for c in slack_bot.slack.calls if c.error] == []


async def test_bad_arguments_get_a_friendly_private_reply(slack_bot: SlackBot) -> None:
    for command, text in (("/lesson", "nine"), ("/lesson", "99"), ("/quiz", ""), ("/lab", "1 2 3"), ("/test", "x")):
        status, _ = await slack_bot.slash(command, text)
        assert status == 200
    notes = await slack_bot.wait_for(lambda: (e := slack_bot.slack.ephemerals_for(ALICE)) and len(e) >= 5 and e)
    assert any("Usage: `/lesson" in n.shown for n in notes)
    assert any("There is no lesson 99" in n.shown for n in notes)
    assert slack_bot.slack.channel_messages(CHANNEL) == []


async def test_a_channel_the_bot_is_not_in_gets_an_invite_hint(slack_bot: SlackBot) -> None:
    slack_bot.slack.closed_channels.add("GPRIVATE")
    await slack_bot.slash("/quiz", "1", channel="GPRIVATE")
    note = await slack_bot.new_ephemeral(ALICE, 0)
    assert "/invite @coursebot" in note.shown


async def test_clicks_and_events_are_acked_before_their_slow_work(slack_bot: SlackBot) -> None:
    """Slack wants an ack within 3 s: each request is acked while the Web API work it starts is held up
    (slash commands: test_slack_labs)."""
    slack = slack_bot.slack
    await slack_bot.slash("/quiz", "1")
    [quiz] = await slack_bot.wait_for(lambda: slack.channel_messages(CHANNEL))

    replies = slack.hold("response_url")
    status, _ = await slack_bot.click(quiz, action_id="quiz:answer:0")
    assert status == 200 and slack.ephemerals_for(ALICE) == []
    replies.set()
    await slack_bot.new_ephemeral(ALICE, 0)

    views = slack.hold("views.publish")
    status, _ = await slack_bot.open_home(ALICE)
    assert status == 200 and slack.views[ALICE] == []
    views.set()
    await slack_bot.wait_for(lambda: slack.views[ALICE])


async def test_quiz_feedback_is_private_recorded_once_and_counted(slack_bot: SlackBot) -> None:
    await slack_bot.slash("/quiz", "1")
    [quiz] = await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL))
    validate_blocks(quiz.blocks)
    question = MODULE.quizzes[1].questions[0]
    right = f"{MODULE.number}:1:{question.id}:{question.correct_option.index}"
    wrong_index = next(o.index for o in question.options if not o.correct)
    wrong = f"{MODULE.number}:1:{question.id}:{wrong_index}"
    assert "Answered by 0 learners" in quiz.shown

    await slack_bot.click(quiz, user=ALICE, value=right)
    feedback = await slack_bot.new_ephemeral(ALICE, 0)
    right_option = question.correct_option
    assert feedback.shown.split("\n") == [
        f"✅ You chose *{right_option.letter}. {right_option.label}*.", right_option.feedback,
        f"_Why:_ {question.explanation}",
    ]

    await slack_bot.click(quiz, user=ALICE, value=wrong)  # a second answer does not replace the first
    again = await slack_bot.new_ephemeral(ALICE, 1)
    assert "first answer counts" in again.shown and "(correct)" in again.shown

    await slack_bot.click(quiz, user=BOB, value=wrong)
    bob = await slack_bot.new_ephemeral(BOB, 0)
    assert bob.shown.startswith("❌ You chose") and question.options[wrong_index].feedback in bob.shown
    await slack_bot.wait_for(lambda: "Answered by 2 learners" in quiz.shown)
    assert all(e.user in (ALICE, BOB) for e in slack_bot.slack.ephemerals)
    assert len(quiz.versions) <= 3, "count updates coalesce: at most one per new respondent"
    peers = slack_bot.slack.response_peers
    assert len(peers) == 3 and len(set(peers)) == 1, "the replies share one kept-alive connection"

    await slack_bot.slash("/progress", user=ALICE)
    progress = await slack_bot.new_ephemeral(ALICE, 2)
    assert "Lesson 1: 1/3 correct (1 answered)" in progress.shown


async def answer_current(bot: SlackBot, message: Ephemeral, user: str = ALICE, *, correct: bool) -> Question:
    """Press the right (or a wrong) option of the question ``message`` shows; return that question."""
    [block] = [b for b in message.blocks if b["type"] == "actions"]
    question = next(q for q in TEST_QUESTIONS if q.id == block["block_id"].split(":", 2)[2])
    index = shown_index(question, message.shown, correct=correct)
    before = len(message.versions)
    await bot.click(message, user=user, action_id=f"test:answer:{index}")
    await bot.wait_for(lambda: len(message.versions) > before)
    return question


async def answer_test(bot: SlackBot, message: Ephemeral, user: str, *, wrong: set[int]) -> list[Question]:
    """Answer every question right (or, for positions in ``wrong``, wrong) until the result shows; return the
    questions missed."""
    missed = []
    for position in range(1, 16):
        assert f"question {position} of 15" in message.shown
        question = await answer_current(bot, message, user, correct=position not in wrong)
        if position in wrong:
            missed.append(question)
    return missed


async def test_module_test_is_private_scored_and_reviewed(slack_bot: SlackBot) -> None:
    await slack_bot.slash("/test", user=BOB)
    intro = await slack_bot.new_ephemeral(BOB, 0)
    assert "15 questions" in intro.shown and "80%" in intro.shown
    await slack_bot.click(intro, user=BOB, action_id="test:start")
    await slack_bot.wait_for(lambda: len(intro.versions) == 2)
    missed = await answer_test(slack_bot, intro, BOB, wrong={2, 5, 9, 12})
    assert "not passed yet" in intro.shown and "11/15 (73%)" in intro.shown
    review = intro.shown.split("Review")[1]
    assert review.count("You chose:") == 4
    assert all(q.correct_option.label.replace("`", "") in review.replace("`", "") for q in missed)
    assert slack_bot.slack.channel_messages(CHANNEL) == [], "nothing of the test is public"

    await slack_bot.click(intro, user=BOB, action_id="test:start")  # take it again
    await slack_bot.wait_for(lambda: "question 1 of 15" in intro.shown)
    await answer_test(slack_bot, intro, BOB, wrong={3})
    assert "passed ✅" in intro.shown and "14/15 (93%)" in intro.shown and "2 attempts" in intro.shown


async def test_someone_elses_test_buttons_change_nothing(slack_bot: SlackBot) -> None:
    await slack_bot.slash("/test", user=ALICE)
    intro = await slack_bot.new_ephemeral(ALICE, 0)
    await slack_bot.click(intro, user=ALICE, action_id="test:start")
    await slack_bot.wait_for(lambda: "question 1 of 15" in intro.shown)
    await slack_bot.click(intro, user=BOB, action_id="test:answer:0")
    refusal = await slack_bot.new_ephemeral(BOB, 0)
    assert "not yours" in refusal.shown
    assert "question 1 of 15" in intro.shown


async def test_module_test_resumes_after_a_restart(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    db = tmp_path / "course.db"
    async with running_slack_bot(slack_emulator, db, mode="socket", anthropic=fake_anthropic) as bot:
        await bot.slash("/test")
        intro = await bot.new_ephemeral(ALICE, 0)
        await bot.click(intro, action_id="test:start")
        await bot.wait_for(lambda: "question 1 of 15" in intro.shown)
        for position in (1, 2, 3):
            await answer_current(bot, intro, correct=True)
            assert f"question {position + 1} of 15" in intro.shown
    async with running_slack_bot(slack_emulator, db, mode="http", anthropic=fake_anthropic) as bot:
        await answer_current(bot, intro, correct=True)  # a button of the attempt shown before the restart
        assert "question 5 of 15" in intro.shown
        await bot.slash("/test")
        resumed = await bot.new_ephemeral(ALICE, 1)
    assert "question 5 of 15" in resumed.shown and "Welcome back: 4 answered" in resumed.shown


async def test_app_home_shows_progress(slack_bot: SlackBot) -> None:
    await slack_bot.slash("/lesson", "2")
    await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL))
    await slack_bot.open_home(ALICE)
    [view] = await slack_bot.wait_for(lambda: slack_bot.slack.views[ALICE])
    validate_blocks(view["blocks"])
    text = json.dumps(view["blocks"])
    assert "1 of 4 read (2)" in text and "not taken yet" in text


async def test_course_stats_for_admins_with_a_csv(slack_bot: SlackBot) -> None:
    await slack_bot.slash("/quiz", "1")
    [quiz] = await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL))
    question = MODULE.quizzes[1].questions[0]
    await slack_bot.click(quiz, user=BOB, value=f"{MODULE.number}:1:{question.id}:{question.correct_option.index}")
    await slack_bot.new_ephemeral(BOB, 0)

    await slack_bot.slash("/course-stats", user=ALICE)
    refused = await slack_bot.new_ephemeral(ALICE, 0)
    assert "for instructors" in refused.shown
    assert slack_bot.slack.uploads == {}

    await slack_bot.slash("/course-stats", user=ADMIN)
    summary = await slack_bot.new_ephemeral(ADMIN, 0)
    assert "Course statistics: Module 5" in summary.shown and "*100%* correct of 1" in summary.shown
    [upload] = await slack_bot.wait_for(lambda: [u for u in slack_bot.slack.uploads.values()
                                                 if u.completed and u.filename.endswith("-stats.csv")])
    assert upload.channel == "D" + ADMIN.lstrip("U")
    rows = list(csv.DictReader(io.StringIO(upload.content.decode())))
    chosen = [r for r in rows if r["question_id"] == question.id and r["chosen"] == "1"]
    assert len(chosen) == 1 and chosen[0]["correct"] == "yes"


async def test_instructor_listed_in_settings_gets_stats(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=fake_anthropic,
                                 slack_instructors=[BOB]) as bot:
        await bot.slash("/course-stats", user=BOB)
        summary = await bot.new_ephemeral(BOB, 0)
        await bot.wait_for(lambda: [u for u in bot.slack.uploads.values() if u.completed])
    assert "Course statistics" in summary.shown


async def test_http_mode_rejects_a_bad_signature(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """A forged command, click or event gets 401 and changes nothing; the same requests signed work."""
    forged = "not-the-secret"
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="http", anthropic=fake_anthropic) as bot:
        status, _ = await bot.slash("/lesson", "1", secret=forged)
        assert status == 401
        await bot.slash("/quiz", "1")
        [quiz] = await bot.wait_for(lambda: bot.slack.channel_messages(CHANNEL))
        status, _ = await bot.click(quiz, action_id="quiz:answer:0", secret=forged)
        assert status == 401
        await bot.slash("/lab", "1")
        [_, lab] = await bot.wait_for(lambda: (found := bot.slack.channel_messages(CHANNEL))[1:] and found)
        await bot.say("A forged question", thread_ts=lab.ts, secret=forged)
        assert ("events_api", 401) in bot.slack.deliveries
        await bot.slash("/progress")
        progress = await bot.new_ephemeral(ALICE, 0)
    assert quiz.blocks[0]["text"]["text"].startswith("Quiz:"), "the forged /lesson posted nothing"
    assert len(quiz.versions) == 1 and bot.slack.ephemerals_for(ALICE) == [progress], "the forged click did nothing"
    assert fake_anthropic.request_count == 0 and bot.slack.bot_replies(CHANNEL, lab.ts) == []
    for unchanged in ("0 of 4 read", "Lesson 1: 0/3 correct (0 answered)", "Lab 1: 0/3 questions asked"):
        assert unchanged in progress.shown
