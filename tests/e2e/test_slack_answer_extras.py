"""A finished lab answer on Slack, end to end (Socket Mode and HTTP): its sources (📖 buttons that show the
lesson section privately), an exact progressive text while citations stream, Slack's native 👍 / 👎 stored once
per learner and answer (a 👎 reason from a modal), and the answers marked unhelpful in ``/course-stats``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.core.citations import lesson_parts, section_text
from bot.core.content.loader import load_course
from bot.core.feedback import REASON_MAX
from bot.core.store.base import LessonSource
from bot.slack.mrkdwn import to_mrkdwn
from tests.e2e.slack_harness import ADMIN, ALICE, BOB, CHANNEL, CONTENT, SlackBot, running_slack_bot
from tests.e2e.test_slack_labs import answer_in, open_lab
from tests.emulators.anthropic import Cited, FakeAnthropic, Reply
from tests.emulators.slack import Ephemeral, Message, SlackEmulator, buttons

pytestmark = pytest.mark.e2e

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]
LAB = MODULE.labs[1]
LESSON = MODULE.lessons[LAB.lesson]
PARTS = lesson_parts(LESSON)
CITED_BLOCK = next(i for i, part in enumerate(PARTS) if part.section == LESSON.sections[1].heading)
SECTION = PARTS[CITED_BLOCK].section
SOURCE = f"📖 Lesson {LESSON.number} · {SECTION}"
REPLY = Reply(parts=("Here is how it works. ", Cited("The lesson explains it in its own words", CITED_BLOCK),
                     ", so read that part again."), chunk_chars=7, tokens_per_second=400)
TEXT = "Here is how it works. The lesson explains it in its own words, so read that part again."


def feedback_rows(db: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return [(row[0], row[1]) for row in conn.execute("SELECT helpful, reason FROM answer_feedback ORDER BY id")]


async def asked(bot: SlackBot, question: str) -> Message:
    parent = await open_lab(bot)
    await bot.say(question, thread_ts=parent.ts)
    [reply] = await answer_in(bot, parent)
    return reply


def labels(message: Message) -> list[str]:
    return [b["text"]["text"] for b in buttons(message.blocks)]


async def ephemeral_after(bot: SlackBot, user: str, press: Any) -> Ephemeral:
    """What ``user`` is shown privately after ``press`` (an awaitable click)."""
    seen = len(bot.slack.ephemerals_for(user))
    await press
    return await bot.new_ephemeral(user, seen)


async def test_a_cited_answer_streams_exactly_and_its_source_button_shows_the_section(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply = REPLY
    reply = await asked(slack_bot, "Where does the lesson say this?")

    final = reply.versions[-1].markdown
    text, footer = final.split("\n\n", 1)
    assert text == TEXT
    assert footer.startswith(f"{SOURCE}\nTTFT ")
    progress = [v.markdown.removesuffix(" ▌") for v in reply.versions]
    assert len(set(progress)) >= 3 and all(final.startswith(version) for version in progress)  # never jumps back
    assert labels(reply) == [SOURCE, "👍", "👎"]

    expected = section_text(LESSON, LessonSource(LESSON.number, SECTION))
    for reader in (ALICE, BOB):  # anyone who sees the answer may read the lesson section
        shown = await ephemeral_after(slack_bot, reader, slack_bot.click(reply, user=reader, text=SOURCE))
        assert shown.blocks[0]["text"]["text"] == expected.title
        assert shown.shown.startswith(f"{expected.title}\n{to_mrkdwn(expected.markdown)[:200]}")
    assert slack_bot.slack.channel_messages(CHANNEL, thread_ts=reply.thread_ts)[-1] is reply, "nothing posted"


async def test_feedback_is_stored_once_changed_by_a_second_click_and_shown_to_instructors(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    db = slack_bot.settings.db
    fake_anthropic.reply = Reply(text="An answer to rate.", chunk_chars=5)
    question = "Is this helpful?"
    reply = await asked(slack_bot, question)
    assert labels(reply) == ["👍", "👎"], "no citation: no sources, only feedback"
    assert reply.blocks[-1]["type"] == "context_actions"  # Slack's native feedback buttons

    thanks = await ephemeral_after(slack_bot, ALICE, slack_bot.click(reply, text="👍"))
    assert thanks.shown.startswith("👍 Thanks")
    refused = await ephemeral_after(slack_bot, BOB, slack_bot.click(reply, user=BOB, text="👍"))
    assert "Only the learner who asked" in refused.shown
    assert feedback_rows(db) == [(1, "")]

    await slack_bot.click(reply, text="👎")
    [modal] = await slack_bot.wait_for(lambda: slack_bot.slack.modals[ALICE])
    assert feedback_rows(db) == [(0, "")], "👎 is stored at once; the modal asks why"
    assert json.loads(modal["private_metadata"])["thread"] == reply.thread_ts

    status, refusal = await slack_bot.slack.submit_view(ALICE, modal, {"reason": "x" * (REASON_MAX + 1)},
                                                        mode=slack_bot.mode)
    assert status == 200 and refusal["response_action"] == "errors" and str(REASON_MAX) in refusal["errors"]["reason"]
    assert feedback_rows(db) == [(0, "")]
    status, _ = await slack_bot.slack.submit_view(BOB, modal, {"reason": "Not my answer."}, mode=slack_bot.mode)
    assert feedback_rows(db) == [(0, "")], "someone else's submission changes nothing"
    noted = await ephemeral_after(slack_bot, ALICE, slack_bot.slack.submit_view(
        ALICE, modal, {"reason": "It ignored the <!channel> with block."}, mode=slack_bot.mode))
    assert "reason was saved" in noted.shown and noted.thread_ts == reply.thread_ts
    assert feedback_rows(db) == [(0, "It ignored the <!channel> with block.")]  # one row: changed, not added

    stats = await ephemeral_after(slack_bot, ADMIN, slack_bot.slash("/course-stats", user=ADMIN))
    assert "👎 Answers marked unhelpful (1)" in stats.shown
    assert f"Lab {LAB.number} (Lesson {LESSON.number}: {LESSON.title})" in stats.shown
    assert f"“{question}” · reason: It ignored the <!channel> with block." in stats.shown
    assert "<!channel>" not in json.dumps(stats.blocks), "the learner's reason is escaped"


async def test_a_plain_answer_carries_its_controls_on_its_final_update(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """Without native streams the answer is a chat.postMessage then chat.updates; the last update carries the
    same Markdown as a markdown block with the buttons (markdown_text cannot go with blocks): no extra request."""
    fake_anthropic.reply = REPLY
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=fake_anthropic,
                                 slack_native_streaming=False) as bot:
        reply = await asked(bot, "Where does the lesson say this?")
        shown = await ephemeral_after(bot, ALICE, bot.click(reply, text=SOURCE))
    assert reply.versions[-1].markdown.split("\n\n")[0] == TEXT
    assert all(reply.versions[-1].markdown.startswith(v.markdown.removesuffix(" ▌")) for v in reply.versions)
    assert labels(reply) == [SOURCE, "👍", "👎"] and shown.blocks[0]["text"]["text"].endswith(SECTION)
    mine = [c for c in slack_emulator.calls if c.args.get("ts") == reply.ts or (
        c.method == "chat.postMessage" and c.args.get("thread_ts") == reply.thread_ts)]
    assert [c.method for c in mine].count("chat.postMessage") == 1, "the buttons needed no message of their own"
    assert len(mine) == len(reply.versions), "one request per version: the buttons rode on the last one"
    assert "blocks" in mine[-1].args and "markdown_text" not in mine[-1].args
    assert not any("blocks" in c.args for c in mine[:-1])
