"""/quiz end to end: option buttons for every learner, first answer counts, a paced respondent count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.cogs._render import without_verdict
from bot.core.content.loader import load_course
from bot.core.store.sqlite import SQLiteStore
from tests.e2e.discord_harness import CONTENT, DiscordHarness
from tests.emulators.discord import EPHEMERAL, LOADING, Message

COURSE = load_course(CONTENT)
QUIZ = COURSE.modules[COURSE.default_module].quizzes[1]


def option_id(message: Message, question: int, option: int) -> str:
    question_id = QUIZ.questions[question].id
    return next(b["custom_id"] for b in message.buttons() if b["custom_id"].endswith(f":{question_id}:{option}"))


async def test_quiz_answers_are_private_first_answer_counts_and_count_is_shown(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    learners = [emu.add_user(name) for name in ("alice", "bob", "carol")]
    posted = await emu.slash(learners[0], "quiz", number=1)
    (quiz,) = await emu.responded(posted)
    assert not quiz.ephemeral
    assert len(quiz.embeds) == len(QUIZ.questions)
    assert "No answers yet" in quiz.content

    first = QUIZ.questions[0]
    right = first.correct_option.index
    wrong = (right + 1) % len(first.options)
    answers = []
    for learner, option in zip(learners, (right, wrong, right), strict=True):
        answers.append(await emu.click(learner, quiz, option_id(quiz, 0, option)))
    replies = [(await emu.responded(click))[0] for click in answers]
    assert all(reply.ephemeral for reply in replies)
    right_option, wrong_option = first.correct_option, first.options[wrong]
    assert replies[0].content.startswith(f"✅ Correct! Question 1: **{right_option.letter}. {right_option.label}**\n")
    assert replies[1].content.startswith(f"❌ Not quite. Question 1: you chose **{wrong_option.letter}. ")
    for reply, option in ((replies[0], right_option), (replies[1], wrong_option)):
        feedback = without_verdict(option.feedback)
        assert feedback != option.feedback and reply.content.count(feedback) == 1  # the verdict is not said twice

    again = await emu.click(learners[1], quiz, option_id(quiz, 0, right))
    (repeat,) = await emu.responded(again)
    assert repeat.ephemeral and "already answered" in repeat.content
    assert first.options[wrong].label in repeat.content  # the first answer stands, not the new one

    await emu.wait_until(lambda: "3 learners answered" in quiz.content)
    assert all("learners answered" in v or "learner answered" in v or "No answers" in v for v in quiz.contents)
    assert len(quiz.versions) <= 4  # coalesced: not one edit per click beyond the first few
    assert emu.rate_limited == 0


async def test_quiz_buttons_work_after_restart(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    await discord_bot.restart()
    question = QUIZ.questions[1]
    click = await emu.click(alice, quiz, option_id(quiz, 1, question.correct_option.index))
    (reply,) = await emu.responded(click)
    assert reply.content.startswith("✅ Correct!")
    await emu.wait_until(lambda: "1 learner answered" in quiz.content)


async def test_unknown_quiz_is_an_ephemeral_error_and_posts_nothing(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    before = len(emu.channel_messages(emu.general))
    (reply,) = await emu.responded(await emu.slash(emu.add_user("dave"), "quiz", number=42))
    assert reply.ephemeral
    assert "no quiz for lesson 42" in reply.content
    assert len(emu.channel_messages(emu.general)) == before


async def test_a_press_whose_answer_is_slow_to_store_is_acknowledged_at_once(
    discord_bot: DiscordHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick store answers with the feedback in one response; a slow one defers first, then fills it in."""
    emu = discord_bot.emulator
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    right = QUIZ.questions[0].correct_option.index

    quick = await emu.click(alice, quiz, option_id(quiz, 0, right))
    (feedback,) = await emu.responded(quick)
    assert [r["type"] for r in quick.responses] == [4] and feedback.content.startswith("✅ Correct!")

    release = asyncio.Event()
    record = SQLiteStore.record_quiz_answer

    async def slow_record(self: SQLiteStore, *args: Any) -> Any:
        await release.wait()  # a store busy with a class's lab questions
        return await record(self, *args)

    monkeypatch.setattr(SQLiteStore, "record_quiz_answer", slow_record)
    slow = await emu.click(bob, quiz, option_id(quiz, 0, right))
    deferred = await emu.acknowledged(slow)
    assert deferred["type"] == 5 and deferred["data"]["flags"] & EPHEMERAL  # "thinking…", before the answer
    assert not [m for m in slow.replies if not m.data["flags"] & LOADING]
    release.set()
    (filled,) = await emu.responded(slow)
    assert filled.ephemeral and filled.content.startswith("✅ Correct!") and not slow.followups


async def test_a_press_that_waited_in_a_busy_bot_is_acknowledged_without_waiting_longer(
    discord_bot: DiscordHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time to acknowledge counts from the press: one made two seconds ago (it waited its turn while the
    bot was busy) is deferred at once, even though its answer is quick to store, then filled in."""
    emu = discord_bot.emulator
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    right = QUIZ.questions[0].correct_option.index
    now = emu.snowflake
    monkeypatch.setattr(emu, "snowflake", lambda **kw: now(**kw) - (2000 << 22))  # ids stamped 2 s back
    waited = await emu.click(bob, quiz, option_id(quiz, 0, right))
    (filled,) = await emu.responded(waited)
    assert [r["type"] for r in waited.responses] == [5]  # "thinking…" first, not the feedback
    assert filled.ephemeral and filled.content.startswith("✅ Correct!") and not waited.followups
