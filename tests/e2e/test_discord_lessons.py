"""/lesson end to end: the real bot against the Discord emulator."""

from __future__ import annotations

from bot.core.content.loader import load_course
from tests.e2e.discord_harness import CONTENT, DiscordHarness

COURSE = load_course(CONTENT)


async def test_lesson_posts_sections_code_and_buttons(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    interaction = await emu.slash(alice, "lesson", number=1)
    replies = await emu.responded(interaction)
    await emu.wait_until(lambda: any(m.buttons() for m in interaction.replies))
    text = "\n".join(m.text() for m in interaction.replies)
    assert "Lesson 1: What Streaming Is and Why It Matters" in text
    assert "Waiting versus watching" in text
    assert "```python" in text
    assert not replies[0].ephemeral


async def test_lesson_buttons_open_the_quiz_and_the_lab(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    interaction = await emu.slash(alice, "lesson", number=2)
    last = await emu.wait_until(lambda: next((m for m in interaction.replies if m.buttons()), None))
    quiz_click = await emu.click(alice, last, last.button("Take the quiz")["custom_id"])
    (quiz,) = await emu.responded(quiz_click)
    assert "Quiz:" in quiz.content and not quiz.ephemeral and quiz.buttons()
    lab_click = await emu.click(alice, last, last.button("Open the lab")["custom_id"])
    (ready,) = await emu.responded(lab_click)
    assert ready.ephemeral and "Your lab is ready" in ready.content
    assert len(emu.threads()) == 1


async def test_every_lesson_fits_discord_limits(discord_bot: DiscordHarness) -> None:
    """The emulator rejects anything over Discord's limits, so a 400 here would fail the command."""
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    for number in COURSE.modules[COURSE.default_module].lesson_numbers:
        interaction = await emu.slash(alice, "lesson", number=number)
        await emu.wait_until(lambda i=interaction: any(m.buttons() for m in i.replies))
        assert all(not m.ephemeral for m in interaction.replies)
        assert all(sum(len(e.get("description") or "") for e in m.embeds) <= 6000 for m in interaction.replies)


async def test_unknown_lesson_lists_valid_ones_and_changes_nothing(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    (reply,) = await emu.responded(await emu.slash(alice, "lesson", number=99))
    lessons = ", ".join(str(n) for n in COURSE.modules[COURSE.default_module].lesson_numbers)
    assert reply.ephemeral and "There is no lesson 99" in reply.content and f"Lessons: {lessons}." in reply.content
    assert emu.channel_messages(emu.general) == []
    (card,) = await emu.responded(await emu.slash(alice, "progress"))
    assert "✅ Lesson" not in card.text()
    (module,) = await emu.responded(await emu.slash(alice, "lesson", number=1, module=7))
    assert module.ephemeral and "There is no Module 7" in module.content


async def test_lesson_number_autocompletes_with_titles(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    module = COURSE.modules[COURSE.default_module]
    choices = await emu.autocomplete(alice, "lesson", "number", number="")
    assert [c["value"] for c in choices] == module.lesson_numbers
    assert choices[0]["name"] == f"1 · {module.lessons[1].title}"
    title_word = module.lessons[2].title.split()[-1].lower()
    narrowed = await emu.autocomplete(alice, "lesson", "number", number=title_word)
    assert 2 in [c["value"] for c in narrowed]
    assert await emu.autocomplete(alice, "lab", "number", number="", module=99) == []
