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
    (pointer,) = await emu.responded(await emu.click(emu.add_user("bob"), last, last.button("Take the quiz")["custom_id"]))
    assert pointer.ephemeral and f"/channels/{emu.guild_id}/{emu.general}/{quiz.id}" in pointer.content
    quiz.deleted = True  # a quiz that is gone is posted again
    (again,) = await emu.responded(await emu.click(alice, last, last.button("Take the quiz")["custom_id"]))
    assert not again.ephemeral and again.id != quiz.id and "Quiz:" in again.content
    lab_click = await emu.click(alice, last, last.button("Open the lab")["custom_id"])
    (ready,) = await emu.responded(lab_click)
    assert ready.ephemeral and "Your lab is ready" in ready.content
    assert len(emu.threads()) == 1


async def test_every_lesson_reaches_learners_whole_and_well_formed(discord_bot: DiscordHarness) -> None:
    """What went out on the wire: every section in order, balanced code fences, no raw tables or headings.

    The emulator also refuses anything over Discord's limits, so a 400 there would fail the command.
    """
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    module = COURSE.modules[COURSE.default_module]
    for number in module.lesson_numbers:
        lesson = module.lessons[number]
        interaction = await emu.slash(alice, "lesson", number=number)
        await emu.wait_until(lambda i=interaction: any(m.buttons() for m in i.replies))
        replies = interaction.replies
        assert all(not m.ephemeral for m in replies) and [bool(m.buttons()) for m in replies][-1]
        assert not any(m.buttons() for m in replies[:-1])  # the buttons come after the whole lesson
        embeds = [embed for m in replies for embed in m.embeds]
        titles = [embed.get("title") for embed in embeds]
        headings = [section.heading for section in lesson.sections if section.heading]
        assert titles == [f"Lesson {number}: {lesson.title}", *headings, "Key terms"]
        assert lesson.summary in embeds[0]["description"]
        for embed in embeds:
            in_code = False
            for line in (embed.get("description") or "").splitlines():
                if line.lstrip().startswith("```"):
                    in_code = not in_code
                else:
                    assert in_code or not line.startswith(("|", "#")), (embed["title"], line)
            assert not in_code, embed["title"]
        assert [f["name"] for f in embeds[-1]["fields"]] == [term.term for term in lesson.key_terms]


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
