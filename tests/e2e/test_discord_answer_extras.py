"""A finished lab answer on Discord, end to end: its sources (📖 buttons that post the lesson section privately,
also after a restart), an exact progressive text while citations stream, and 👍 / 👎 stored once per learner
and shown to instructors in ``/course stats``."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from bot.cogs._render import discord_markdown
from bot.core.citations import lesson_parts, section_text
from bot.core.store.base import LessonSource
from tests.e2e.discord_harness import DiscordHarness
from tests.e2e.test_discord_labs import COURSE, LAB, answers, open_lab, streaming
from tests.emulators.anthropic import Cited, FakeAnthropic, Reply
from tests.emulators.discord import MANAGE_GUILD, DiscordEmulator, Message, User

LESSON = COURSE.modules[COURSE.default_module].lessons[LAB.lesson]
PARTS = lesson_parts(LESSON)
CITED_BLOCK = next(i for i, part in enumerate(PARTS) if part.section == LESSON.sections[1].heading)
SECTION = PARTS[CITED_BLOCK].section
REPLY = Reply(parts=("Here is how it works. ", Cited("The lesson explains it in its own words", CITED_BLOCK),
                     ", so read that part again."), chunk_chars=7, tokens_per_second=5)  # ~2.6 s: several edits
TEXT = "Here is how it works. The lesson explains it in its own words, so read that part again."


async def asked(emu: DiscordEmulator, learner: User, thread_id: int, question: str) -> Message:
    """Post ``question`` and wait for its finished answer (no Stop button, the metrics footer shown)."""
    before = len(emu.channel_messages(thread_id))
    await emu.say(learner, thread_id, question)

    def ended() -> Message | None:
        mine = [m for m in answers(emu, thread_id) if emu.channel_messages(thread_id).index(m) > before]
        return mine[-1] if mine and not streaming(mine[-1]) and "TTFT" in mine[-1].body else None

    return await emu.wait_until(ended, timeout=20)


def feedback_rows(db: str) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return [(row[0], row[1]) for row in conn.execute("SELECT helpful, reason FROM answer_feedback ORDER BY id")]


async def test_a_cited_answer_streams_exactly_and_its_source_button_posts_the_section(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    fake_anthropic.reply = REPLY
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    answer = await asked(emu, alice, thread_id, "Where does the lesson say this?")

    text, footer = answer.body.split("\n\n", 1)
    assert text == TEXT
    assert footer.startswith(f"📖 Lesson {LESSON.number} · {SECTION}\nTTFT ")
    progress = [body.removesuffix(" ▌") for body in answer.bodies[:-1]]
    assert len(progress) >= 2 and all(TEXT.startswith(version) for version in progress)  # never jumps or repeats
    assert [b.get("label") or b["emoji"]["name"] for b in answer.buttons()] == [SECTION, "👍", "👎"]

    await discord_bot.restart()  # the button reads the stored turn, not memory
    source = answer.button(SECTION)["custom_id"]
    bob = emu.add_user("bob")  # anyone who sees the answer may read the lesson section
    for reader in (alice, bob):
        (shown,) = await emu.responded(await emu.click(reader, answer, source))
        assert shown.ephemeral
        expected = section_text(LESSON, LessonSource(LESSON.number, SECTION))
        assert shown.embeds[0]["title"] == expected.title
        assert shown.embeds[0]["description"] == discord_markdown(expected.markdown)[:4096]


async def test_an_answer_without_citations_has_no_sources_only_feedback(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    fake_anthropic.reply = Reply(text="A plain answer.", chunk_chars=5)
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    answer = await asked(emu, alice, thread_id, "Anything?")

    assert "📖" not in answer.body and answer.body.startswith("A plain answer.\n\nTTFT ")
    assert [b["emoji"]["name"] for b in answer.buttons()] == ["👍", "👎"]


async def test_feedback_is_stored_once_changed_by_a_second_click_and_shown_to_instructors(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    db = str(discord_bot.settings.db)
    fake_anthropic.reply = Reply(text="An answer to rate.", chunk_chars=5)
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    thread_id, _ = await open_lab(emu, alice)
    answer = await asked(emu, alice, thread_id, "Is this helpful?")
    up, down = (b["custom_id"] for b in answer.buttons())

    (thanks,) = await emu.responded(await emu.click(alice, answer, up))
    assert thanks.ephemeral and thanks.content.startswith("👍 Thanks")
    (refused,) = await emu.responded(await emu.click(bob, answer, up))
    assert refused.ephemeral and "Only the learner who asked" in refused.content
    assert feedback_rows(db) == [(1, "")]

    pressed = await emu.click(alice, answer, down)
    modal = await emu.acknowledged(pressed)
    assert modal["type"] == 9  # 👎 is stored at once; the modal asks why
    assert feedback_rows(db) == [(0, "")]
    submitted = await emu.submit_modal(alice, pressed, {"Reason (optional)": "It ignored the with block."})
    (noted,) = await emu.responded(submitted)
    assert noted.ephemeral and "reason was saved" in noted.content
    assert feedback_rows(db) == [(0, "It ignored the with block.")]  # one row: the second click changed it

    teacher = emu.add_user("teacher", roles=(emu.add_role("instructors", MANAGE_GUILD),))
    stats = await emu.slash(teacher, "course stats")
    *_, files = await emu.responded(stats, 2)
    assert "👎 Answers marked unhelpful (1)" in files.content
    assert f"Lab {LAB.number} (Lesson {LESSON.number}: {LESSON.title})" in files.content
    assert "“Is this helpful?” · reason: It ignored the with block." in files.content
