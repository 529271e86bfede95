"""The instructor's view and data rights on Discord, end to end: the chart and progress CSV attached to
``/course stats``, ``/progress export:True``, and ``/course forget`` with its confirmation."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from PIL import Image

from bot.core import data_rights
from bot.core.content.loader import load_course
from tests.e2e.discord_harness import CONTENT, DiscordHarness
from tests.e2e.learner_rows import all_rows, learner_id, rows_by_table
from tests.emulators.discord import MANAGE_GUILD, DiscordEmulator, Message, User

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]
QUESTION = MODULE.quizzes[1].questions[0]


async def _answer_quiz(emu: DiscordEmulator, learners: list[User], right: list[bool]) -> None:
    (quiz,) = await emu.responded(await emu.slash(learners[0], "quiz", number=1))
    for learner, correct in zip(learners, right, strict=True):
        option = QUESTION.correct_option.index if correct else (QUESTION.correct_option.index + 1) % len(
            QUESTION.options)
        button = next(b for b in quiz.buttons() if b["custom_id"].endswith(f":{QUESTION.id}:{option}"))
        await emu.responded(await emu.click(learner, quiz, button["custom_id"]))


def _teacher(emu: DiscordEmulator) -> User:
    return emu.add_user("teacher", roles=(emu.add_role("instructors", MANAGE_GUILD),))


def _attachments(emu: DiscordEmulator, message: Message) -> dict[str, bytes]:
    return {a["filename"]: emu.files[int(a["id"])] for a in message.data["attachments"]}


async def test_course_stats_attaches_a_chart_and_every_learners_progress(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    teacher = _teacher(emu)
    learners = [emu.add_user(f"learner{i}") for i in range(3)]
    await emu.responded(await emu.slash(learners[0], "lesson", number=1))
    await _answer_quiz(emu, learners, [True, True, False])

    interaction = await emu.slash(teacher, "course stats")
    *_, files = await emu.responded(interaction, 2)
    assert all(reply.ephemeral for reply in interaction.replies)
    (stats_csv,) = interaction.replies[0].data["attachments"]  # today's reply is unchanged
    assert stats_csv["filename"] == f"module-{MODULE.number}-stats.csv"

    attached = _attachments(emu, files)
    assert set(attached) == {f"module-{MODULE.number}-chart.png", f"module-{MODULE.number}-progress.csv"}
    chart = Image.open(io.BytesIO(attached[f"module-{MODULE.number}-chart.png"]))
    chart.load()
    assert chart.format == "PNG" and 800 <= chart.width <= 2000 and 400 <= chart.height <= 2000
    assert len(chart.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10  # drawn, not blank

    rows = list(csv.DictReader(io.StringIO(attached[f"module-{MODULE.number}-progress.csv"].decode())))
    by_user = {row["user_id"]: row for row in rows}
    assert set(by_user) == {str(learner.id) for learner in learners}  # the teacher never did anything
    first = by_user[str(learners[0].id)]
    assert (first["lessons_viewed"], first["quiz_answered"], first["quiz_correct"]) == ("1", "1", "1")
    assert by_user[str(learners[2].id)]["quiz_correct"] == "0"


async def test_progress_export_sends_the_learner_exactly_their_rows(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    await emu.responded(await emu.slash(alice, "lesson", number=1))
    await emu.responded(await emu.slash(alice, "lesson", number=2))
    await emu.responded(await emu.slash(bob, "lesson", number=1))
    await _answer_quiz(emu, [alice, bob], [False, True])

    interaction = await emu.slash(alice, "progress", export=True)
    (reply,) = await emu.responded(interaction)
    assert reply.ephemeral and reply.visible_to == alice.id
    (name, content), = _attachments(emu, reply).items()
    assert name == f"coursebot-data-discord-{alice.id}.json"
    tables = json.loads(content)["tables"]
    db = discord_bot.settings.db
    mine = learner_id(db, "discord", str(emu.guild_id), str(alice.id))
    assert {table: len(rows) for table, rows in tables.items()} == rows_by_table(db, mine)
    assert [row["user_id"] for row in tables["learners"]] == [str(alice.id)]
    assert [row["lesson"] for row in tables["lesson_views"]] == [1, 2]
    assert [(row["question_id"], row["correct"]) for row in tables["quiz_answers"]] == [(QUESTION.id, 0)]


async def _press(emu: DiscordEmulator, user: User, message: Message, custom_id: str) -> None:
    """Press a button that updates its own message in place, and wait for the update."""
    before = len(message.versions)
    assert (await emu.acknowledged(await emu.click(user, message, custom_id)))["type"] == 7
    await emu.wait_until(lambda: len(message.versions) > before)


async def _forget_prompt(emu: DiscordEmulator, teacher: User, learner: User) -> Message:
    (prompt,) = await emu.responded(await emu.slash(teacher, "course forget", learner=learner))
    assert prompt.ephemeral and prompt.visible_to == teacher.id
    return prompt


async def test_forget_after_confirmation_removes_every_row_of_that_learner_only(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    db = discord_bot.settings.db
    teacher, alice, bob = _teacher(emu), emu.add_user("alice"), emu.add_user("bob")
    for who in (alice, bob):
        await emu.responded(await emu.slash(who, "lesson", number=1))
    await _answer_quiz(emu, [alice, bob], [False, True])
    (question,) = await emu.responded(await emu.slash(alice, "test"))
    await _press(emu, alice, question, question.buttons()[0]["custom_id"])
    alice_id = learner_id(db, "discord", str(emu.guild_id), str(alice.id))
    bob_id = learner_id(db, "discord", str(emu.guild_id), str(bob.id))
    bobs = rows_by_table(db, bob_id)
    assert all(rows_by_table(db, alice_id)[table] for table in ("learners", "lesson_views", "quiz_answers",
                                                                "test_attempts", "test_answers"))

    prompt = await _forget_prompt(emu, teacher, alice)
    assert f"<@{alice.id}>" in prompt.content and not prompt.data["mentions"]
    assert rows_by_table(db, alice_id)["learners"] == 1  # asking deletes nothing
    await _press(emu, teacher, prompt, prompt.button("Delete")["custom_id"])
    assert "Deleted everything" in prompt.content
    assert not prompt.buttons()

    assert set(rows_by_table(db, alice_id).values()) == {0}
    assert rows_by_table(db, bob_id) == bobs


async def test_refused_and_cancelled_forgets_change_nothing(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    db = discord_bot.settings.db
    teacher, alice, student = _teacher(emu), emu.add_user("alice"), emu.add_user("student")
    await emu.responded(await emu.slash(alice, "lesson", number=1))
    before = all_rows(db)

    (denied,) = await emu.responded(await emu.slash(student, "course forget", learner=alice))
    assert denied.ephemeral and "Manage Server" in denied.content and not denied.buttons()

    prompt = await _forget_prompt(emu, teacher, alice)
    press = await emu.click(student, prompt, prompt.button("Delete")["custom_id"])  # not an instructor
    (refusal,) = await emu.responded(press)
    assert refusal.ephemeral and "Only instructors" in refusal.content and prompt.buttons()

    await _press(emu, teacher, prompt, prompt.button("Cancel")["custom_id"])
    assert "nothing was deleted" in prompt.content
    assert not prompt.buttons()

    (nobody,) = await emu.responded(await emu.slash(teacher, "course forget", learner=student))
    assert "stores nothing" in nobody.content and not nobody.buttons()
    assert all_rows(db) == before


async def test_an_expired_confirmation_deletes_nothing(
    discord_bot: DiscordHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = discord_bot.emulator
    teacher, alice = _teacher(emu), emu.add_user("alice")
    await emu.responded(await emu.slash(alice, "lesson", number=1))
    before = all_rows(discord_bot.settings.db)
    monkeypatch.setattr(data_rights, "CONFIRM_FOR", timedelta(seconds=-1))  # expired as soon as it is shown
    prompt = await _forget_prompt(emu, teacher, alice)
    await _press(emu, teacher, prompt, prompt.button("Delete")["custom_id"])
    assert "expired" in prompt.content
    assert not prompt.buttons() and all_rows(discord_bot.settings.db) == before
