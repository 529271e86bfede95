"""/test end to end: one question at a time, score and review, retakes, resume after restart, pass role."""

from __future__ import annotations

from pathlib import Path

from bot.core.content.loader import load_course
from bot.core.content.model import Question
from tests.e2e.discord_harness import CONTENT, DiscordHarness, discord_settings
from tests.e2e.shown_options import shown_index
from tests.emulators.anthropic import FakeAnthropic
from tests.emulators.discord import DiscordEmulator, Interaction, Message, User

COURSE = load_course(CONTENT)
TEST = COURSE.modules[COURSE.default_module].test
assert TEST is not None
QUESTIONS = {q.id: q for q in TEST.questions}


def current(message: Message) -> Question:
    """The question a test message shows, from its buttons' custom_ids."""
    question_id = message.buttons()[0]["custom_id"].split(":")[3]
    return QUESTIONS[question_id]


async def answer(emu: DiscordEmulator, user: User, message: Message, right: bool) -> Interaction:
    question = current(message)
    option = shown_index(question, message.text(), correct=right)
    button = next(b for b in message.buttons() if b["custom_id"].endswith(f":{question.id}:{option}"))
    before = len(message.versions)
    click = await emu.click(user, message, button["custom_id"])
    assert (await emu.acknowledged(click))["type"] == 7  # the ephemeral message is updated in place
    await emu.wait_until(lambda: len(message.versions) > before)
    return click


async def test_full_test_pass_grants_role_and_retake_is_recorded(
    discord_emulator: DiscordEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path, fast_discord: None
) -> None:
    emu = discord_emulator
    graduate = emu.add_role("graduate")
    harness = DiscordHarness(emu, discord_settings(emu, fake_anthropic, tmp_path / "db.sqlite",
                                                   DISCORD_PASS_ROLE_ID=graduate))
    await harness.start()
    try:
        alice = emu.add_user("alice")
        (message,) = await emu.responded(await emu.slash(alice, "test"))
        assert message.ephemeral
        total = len(TEST.questions)
        assert f"Question 1/{total}" in message.text()
        for number in range(1, total + 1):
            assert f"Question {number}/{total}" in message.text()
            if number == 1:
                missed = current(message)
            await answer(emu, alice, message, right=number != 1)  # miss the first one only
        result = message.text()
        assert f"✅ Passed: {total - 1}/{total}" in result
        assert "Review" in result and missed.prompt in result
        assert not message.buttons()
        await emu.wait_until(lambda: graduate in alice.roles)

        (retake,) = await emu.responded(await emu.slash(alice, "test"))
        assert retake is not message and f"Question 1/{total}" in retake.text()
        for _ in range(total):
            await answer(emu, alice, retake, right=False)
        assert "❌ Not passed yet: 0/" in retake.text() and "over 2 attempts" in retake.text()
    finally:
        await harness.stop()


async def test_resume_after_restart_and_old_buttons_keep_working(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    bob = emu.add_user("bob")
    (message,) = await emu.responded(await emu.slash(bob, "test"))
    await answer(emu, bob, message, right=True)
    await answer(emu, bob, message, right=True)
    await discord_bot.restart()

    total = len(TEST.questions)
    assert f"Question 3/{total}" in message.text()
    await answer(emu, bob, message, right=True)  # an old button after the restart
    assert f"Question 4/{total}" in message.text()

    (resumed,) = await emu.responded(await emu.slash(bob, "test"))
    assert f"Question 4/{total}" in resumed.text() and "Resumed" in resumed.text()


async def test_stale_test_button_is_refused_and_changes_nothing(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    carol, dave = emu.add_user("carol"), emu.add_user("dave")
    (message,) = await emu.responded(await emu.slash(carol, "test"))
    snapshot = list(message.versions)
    click = await emu.click(dave, message, message.buttons()[0]["custom_id"])
    (note,) = await emu.responded(click)
    assert note.ephemeral and "not yours" in note.content
    assert message.versions == snapshot
