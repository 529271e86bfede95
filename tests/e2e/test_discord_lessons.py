"""/lesson end to end: the real bot against the Discord emulator."""

from __future__ import annotations

from tests.e2e.discord_harness import DiscordHarness


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
