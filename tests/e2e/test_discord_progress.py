"""/progress and /course stats end to end."""

from __future__ import annotations

import csv
import io

from bot.core.content.loader import load_course
from tests.e2e.discord_harness import CONTENT, DiscordHarness
from tests.emulators.discord import MANAGE_GUILD

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]


async def test_progress_card_reflects_lessons_and_quizzes(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    (empty,) = await emu.responded(await emu.slash(alice, "progress"))
    assert empty.ephemeral and f"Lessons ▱▱▱▱▱▱▱▱▱▱ 0/{len(MODULE.lessons)}" in empty.text()
    assert "Not taken yet" in empty.text()

    await emu.responded(await emu.slash(alice, "lesson", number=1))
    (quiz,) = await emu.responded(await emu.slash(alice, "quiz", number=1))
    question = MODULE.quizzes[1].questions[0]
    right = f":{question.id}:{question.correct_option.index}"
    button = next(b for b in quiz.buttons() if b["custom_id"].endswith(right))
    await emu.responded(await emu.click(alice, quiz, button["custom_id"]))

    (card,) = await emu.responded(await emu.slash(alice, "progress"))
    text = card.text()
    assert f"1/{len(MODULE.lessons)}" in text and "✅ Lesson 1" in text
    assert f"Lesson 1: ▰▰▱▱▱▱ 1/{len(MODULE.quizzes[1].questions)} correct (1 answered)" in text


async def test_course_stats_needs_manage_server(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    (command,) = [c for c in emu.commands[emu.guild_id] if c["name"] == "course"]
    assert int(command["default_member_permissions"]) == MANAGE_GUILD
    (denied,) = await emu.responded(await emu.slash(emu.add_user("student"), "course stats"))
    assert denied.ephemeral and "Manage Server" in denied.content and not denied.data["attachments"]


async def test_course_stats_for_instructors_with_csv(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    teacher = emu.add_user("teacher", roles=(emu.add_role("instructors", MANAGE_GUILD),))
    learners = [emu.add_user(f"learner{i}") for i in range(4)]
    (quiz,) = await emu.responded(await emu.slash(learners[0], "quiz", number=1))
    question = MODULE.quizzes[1].questions[0]
    for i, learner in enumerate(learners):  # three right, one wrong
        option = question.correct_option.index if i < 3 else (question.correct_option.index + 1) % len(question.options)
        button = next(b for b in quiz.buttons() if b["custom_id"].endswith(f":{question.id}:{option}"))
        await emu.responded(await emu.click(learner, quiz, button["custom_id"]))

    (stats,) = await emu.responded(await emu.slash(teacher, "course stats"))
    assert stats.ephemeral
    assert f"`Quiz 1 Q1` ▰▰▰▰▰▰▱▱ 75% of 4 · {question.prompt}" in stats.text()
    assert f"`Quiz 1 Q2` no answers yet · {MODULE.quizzes[1].questions[1].prompt}" in stats.text()
    (attachment,) = stats.data["attachments"]
    assert attachment["filename"] == f"module-{MODULE.number}-stats.csv"
    rows = list(csv.DictReader(io.StringIO(emu.files[int(attachment["id"])].decode())))
    chosen = {r["option"]: int(r["chosen"]) for r in rows if r["question_id"] == question.id and r["kind"] == "quiz"}
    assert chosen[question.correct_option.letter] == 3 and sum(chosen.values()) == 4
