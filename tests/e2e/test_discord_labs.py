"""/lab, lab threads and streamed answers end to end: the real bot, the Discord emulator, the fake Claude."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.core.content.loader import load_course
from bot.core.messages import INTERRUPTED, NO_CLAUDE
from tests.e2e.discord_harness import CONTENT, DiscordHarness, discord_settings
from tests.emulators.anthropic import Cut, FakeAnthropic, Reply
from tests.emulators.discord import MESSAGE_CONTENT_INTENT, DiscordEmulator, Message, User

COURSE = load_course(CONTENT)
LAB = COURSE.modules[COURSE.default_module].labs[1]
FOOTER = re.compile(r"\n\nTTFT \d+\.\d\d s · (\d+ tokens · \d+ tok/s|≈\d+ tokens \(estimated\))( · [^\n]+)?$")


async def open_lab(emu: DiscordEmulator, learner: User, number: int = 1) -> tuple[int, Message]:
    """Run /lab as ``learner``; return the new thread id and its greeting message."""
    command = await emu.slash(learner, "lab", number=number)
    (ready,) = await emu.responded(command)
    assert ready.ephemeral
    thread_id = int(re.search(r"<#(\d+)>", ready.content)[1])  # type: ignore[index]
    greeting = (await emu.wait_until(lambda: emu.channel_messages(thread_id)))[0]
    return thread_id, greeting


def stop_in(version: dict) -> bool:
    """Whether a message version shows an answer's Stop button (a finished answer shows 📖 and 👍 / 👎 instead)."""
    return any(c.get("custom_id", "").startswith("cb:lab:stop:")
               for row in version.get("components") or [] for c in row.get("components", []))


def streaming(message: Message) -> bool:
    return stop_in(message.data)


def answers(emu: DiscordEmulator, thread_id: int) -> list[Message]:
    """The bot's messages in a thread after the greeting."""
    return [m for m in emu.channel_messages(thread_id)[1:] if m.data["author"]["id"] == str(emu.bot.id)]


def progress_shown(emu: DiscordEmulator, thread_id: int, note: str) -> bool:
    """Whether a finished answer's footer carries the lab's progress ``note`` (e.g. "Question 1 of 3")."""
    return any(FOOTER.search(m.body) and m.body.endswith(note) for m in answers(emu, thread_id))


async def ask(emu: DiscordEmulator, learner: User, thread_id: int, question: str) -> Message:
    """Post ``question`` in the thread and wait until the answer's Stop button is gone (the answer ended)."""
    before = len(emu.channel_messages(thread_id))
    await emu.say(learner, thread_id, question)

    def ended() -> Message | None:
        mine = [m for m in emu.channel_messages(thread_id)[before + 1:] if m.data["author"]["id"] == str(emu.bot.id)]
        done = mine and not any(streaming(m) for m in mine) and FOOTER.search(mine[-1].body)
        return mine[0] if done else None

    return await emu.wait_until(ended, timeout=20)


async def test_lab_opens_a_private_thread_with_greeting_and_suggestions(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    thread_id, greeting = await open_lab(emu, alice)
    thread = emu.channels[thread_id]
    assert thread["type"] == 12  # private
    assert thread["name"].startswith(f"Lab 1: {LAB.title}") and "alice" in thread["name"]
    assert alice.id in emu.thread_members[thread_id]
    assert LAB.greeting in greeting.text()
    (embed,) = greeting.embeds
    assert embed["title"] == f"🧪 Lab 1: {LAB.title}" and embed["author"]["name"] == LAB.assistant_name
    assert f"Ask {LAB.questions_to_complete} questions to complete the lab" in embed["description"]
    assert [b["label"] for b in greeting.buttons()] == [q[:80] for q in LAB.suggested_questions]


async def test_public_thread_when_private_threads_are_not_allowed(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    emu.private_threads = False
    thread_id, _ = await open_lab(emu, emu.add_user("alice"))
    assert emu.channels[thread_id]["type"] == 11


async def test_answer_streams_into_one_message_byte_exact(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    text = "Streaming shows the first words at once. " * 85 + "`code` and **bold** survive."  # ~3,500 chars
    fake_anthropic.reply = Reply(text=text, tokens_per_second=2000, chunk_chars=40)
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    first = await ask(emu, alice, thread_id, "Why does streaming feel faster?")
    assert fake_anthropic.requests[-1].question == "Why does streaming feel faster?"
    final = first.body
    assert final.startswith(text) and FOOTER.search(final[len(text):]), final
    assert len(first.versions) > 2  # it was edited progressively, not posted once
    assert any(v.endswith(" ▌") for v in first.bodies)
    assert answers(emu, thread_id) == [first]  # one message for the whole answer, progress included
    assert first.body.endswith(" · Question 1 of 3")
    # the Stop button is there while it streams and goes with the final text, in the same request
    assert stop_in(first.versions[0]) and not streaming(first)
    assert [stop_in(v) for v in first.versions].count(False) == 1
    assert [b["emoji"]["name"] for b in first.buttons()] == ["👍", "👎"]  # added by that same final edit
    assert emu.typing_count == 0  # the first text came within a second: no typing indicator was needed
    assert emu.rate_limited == 0


async def test_typing_shows_while_a_first_text_is_slow(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    # the model thinks for about two seconds before its first words
    fake_anthropic.reply = Reply(text="Now the answer.", blocks=("thinking", "text"), chunk_chars=6, tokens_per_second=5)
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    await ask(emu, alice, thread_id, "A question that needs thought")
    assert emu.typing_count >= 1


async def test_long_answer_continues_in_new_messages_within_the_embed_limit(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    text = "\n\n".join(f"Paragraph {i}: " + "streaming text " * 30 for i in range(12))
    fake_anthropic.reply = Reply(text=text, tokens_per_second=3000, chunk_chars=40)
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    await ask(emu, alice, thread_id, "Tell me everything.")
    parts = answers(emu, thread_id)
    assert len(parts) >= 2
    assert all(len(v) <= 4096 for m in parts for v in m.bodies)
    joined = "".join(m.body for m in parts)
    assert FOOTER.sub("", joined) == text  # the pieces join back byte for byte


async def test_three_questions_complete_the_lab(discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    thread_id, greeting = await open_lab(emu, alice)
    click = await emu.click(alice, greeting, greeting.buttons()[0]["custom_id"])
    (echo,) = await emu.responded(click)
    assert LAB.suggested_questions[0] in echo.content and not echo.ephemeral
    await emu.wait_until(lambda: progress_shown(emu, thread_id, "Question 1 of 3"))
    await ask(emu, alice, thread_id, "Second question?")
    await ask(emu, alice, thread_id, "Third question?")
    final = await emu.wait_until(lambda: [m for m in answers(emu, thread_id) if "🎉 Lab 1 complete!" in m.body])
    assert FOOTER.search(final[0].body) and not streaming(final[0])
    assert fake_anthropic.request_count == 3


async def test_only_the_learner_triggers_the_model(discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic) -> None:
    emu = discord_bot.emulator
    alice, mallory = emu.add_user("alice"), emu.add_user("mallory")
    thread_id, greeting = await open_lab(emu, alice)
    await emu.say(mallory, thread_id, "Answer me instead!")
    click = await emu.click(mallory, greeting, greeting.buttons()[0]["custom_id"])
    (note,) = await emu.responded(click)
    assert note.ephemeral and "belongs to another learner" in note.content
    slash = await emu.slash(mallory, "ask", channel_id=thread_id, question="And me?")
    (note,) = await emu.responded(slash)
    assert note.ephemeral and "belongs to another learner" in note.content
    await ask(emu, alice, thread_id, "My own question")  # the thread still works for its learner
    assert [r.question for r in fake_anthropic.requests] == ["My own question"]


async def test_ask_command_and_long_question(discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    too_long = "why " * 600
    (note,) = await emu.responded(await emu.slash(alice, "ask", channel_id=thread_id, question=too_long))
    assert note.ephemeral and "please keep it under 1500 characters" in note.content
    await emu.say(alice, thread_id, too_long)
    reply = await emu.wait_until(lambda: [m for m in emu.channel_messages(thread_id) if "keep it under" in m.content])
    assert reply[0].data["message_reference"]["message_id"]
    (echo,) = await emu.responded(await emu.slash(alice, "ask", channel_id=thread_id, question="What is TTFT?"))
    assert "What is TTFT?" in echo.content
    await emu.wait_until(lambda: progress_shown(emu, thread_id, "Question 1 of 3"))
    assert [r.question for r in fake_anthropic.requests] == ["What is TTFT?"]
    (outside,) = await emu.responded(await emu.slash(alice, "ask", question="Outside a thread?"))
    assert outside.ephemeral and "inside your lab thread" in outside.content


async def test_one_answer_at_a_time_and_stop_button(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    fake_anthropic.reply = Reply(text="slow words " * 400, tokens_per_second=40)
    alice, bob = emu.add_user("alice"), emu.add_user("bob")
    thread_id, _ = await open_lab(emu, alice)
    await emu.say(alice, thread_id, "A slow question")
    running = await emu.wait_until(lambda: [m for m in answers(emu, thread_id) if streaming(m)])
    await emu.say(alice, thread_id, "A second question meanwhile")
    busy = await emu.wait_until(lambda: [m for m in emu.channel_messages(thread_id) if "still answering" in m.content])
    assert busy
    stop = running[0].button("Stop")["custom_id"]
    (denied,) = await emu.responded(await emu.click(bob, running[0], stop))
    assert denied.ephemeral and "Only the learner" in denied.content
    pressed = await emu.click(alice, running[0], stop)
    assert (await emu.acknowledged(pressed))["type"] == 6
    await emu.wait_until(lambda: "⏹️ Stopped." in running[0].body and not streaming(running[0]))
    kept = running[0].body.split("\n\n⏹️ Stopped.")[0]
    assert kept and ("slow words " * 400).startswith(kept) and len(kept) < len("slow words " * 400)
    assert len(fake_anthropic.requests) == 1


async def test_mid_stream_drop_keeps_the_partial_text(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    fake_anthropic.reply = Reply(text="Partial answers stay visible. " * 10, chunk_chars=10, cut=Cut("drop", after=8))
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    await emu.say(alice, thread_id, "Will this survive a drop?")
    (answer,) = await emu.wait_until(lambda: [m for m in answers(emu, thread_id) if "cut off" in m.body])
    await emu.wait_until(lambda: not streaming(answer))
    assert answer.body.startswith("Partial answers stay visible. Partial answers stay visible.")
    assert "⚠️ The answer was cut off" in answer.body


async def test_model_output_pings_nobody(discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic) -> None:
    emu = discord_bot.emulator
    staff = emu.add_role("staff", 0)
    alice = emu.add_user("alice", roles=(staff,))
    text = f"@everyone @here look: <@&{staff}> and <@{alice.id}> were mentioned."
    fake_anthropic.reply = Reply(text=text)
    thread_id, _ = await open_lab(emu, alice)
    await ask(emu, alice, thread_id, "Ping everyone please")
    (answer,) = answers(emu, thread_id)
    assert answer.body.startswith(text)
    for version in answer.versions:
        assert not version["mention_everyone"] and not version["mentions"] and not version["mention_roles"]
    payloads = discord_bot.message_payloads()
    assert payloads and all(p.get("allowed_mentions") == {"parse": []} for p in payloads)


async def test_twenty_concurrent_labs_stream_without_429s(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    text = "Each lab gets its own paced stream of edits. " * 20
    fake_anthropic.reply = Reply(text=text, tokens_per_second=150, chunk_chars=12)
    learners = [emu.add_user(f"learner{i}") for i in range(20)]
    threads = [await open_lab(emu, learner) for learner in learners]
    finals = await asyncio.gather(*(ask(emu, learner, thread_id, f"Question from {learner.name}")
                                    for learner, (thread_id, _) in zip(learners, threads, strict=True)))
    for message in finals:
        await emu.wait_until(lambda m=message: FOOTER.search(m.body))
        assert message.body.startswith(text)
        assert FOOTER.fullmatch(message.body[len(text):])
    assert emu.rate_limited == 0


async def test_lab_without_claude_says_unavailable(
    discord_emulator: DiscordEmulator, tmp_path: Path, fast_discord: None
) -> None:
    harness = DiscordHarness(discord_emulator, discord_settings(discord_emulator, None, tmp_path / "db.sqlite"))
    await harness.start()
    try:
        emu = discord_emulator
        (reply,) = await emu.responded(await emu.slash(emu.add_user("alice"), "lab", number=1))
        assert reply.ephemeral and reply.content == NO_CLAUDE
        assert not emu.threads()
    finally:
        await harness.stop()


async def test_unknown_lab_lists_the_labs(discord_bot: DiscordHarness) -> None:
    emu = discord_bot.emulator
    (reply,) = await emu.responded(await emu.slash(emu.add_user("alice"), "lab", number=9))
    assert reply.ephemeral and "There is no lab 9" in reply.content and "Labs: 1, 2" in reply.content
    assert not emu.threads()


async def test_lab_thread_survives_a_restart(discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic) -> None:
    emu = discord_bot.emulator
    alice = emu.add_user("alice")
    thread_id, greeting = await open_lab(emu, alice)
    await discord_bot.restart()
    click = await emu.click(alice, greeting, greeting.buttons()[1]["custom_id"])
    (echo,) = await emu.responded(click)
    assert LAB.suggested_questions[1] in echo.content
    await emu.wait_until(lambda: progress_shown(emu, thread_id, "Question 1 of 3"))
    await ask(emu, alice, thread_id, "And after the restart?")
    assert [r.question for r in fake_anthropic.requests] == [LAB.suggested_questions[1], "And after the restart?"]


async def test_bot_messages_in_a_lab_thread_are_ignored(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    alice, other_bot = emu.add_user("alice"), emu.add_user("helper-bot", bot=True)
    thread_id, _ = await open_lab(emu, alice)
    await emu.say(other_bot, thread_id, "I am a bot, answer me")
    await ask(emu, alice, thread_id, "A real question")
    assert [r.question for r in fake_anthropic.requests] == ["A real question"]


async def test_stopping_the_bot_mid_answer_keeps_the_text_with_a_notice(
    discord_bot: DiscordHarness, fake_anthropic: FakeAnthropic
) -> None:
    emu = discord_bot.emulator
    fake_anthropic.reply = Reply(text="a long careful answer " * 300, tokens_per_second=60)
    alice = emu.add_user("alice")
    thread_id, _ = await open_lab(emu, alice)
    await emu.say(alice, thread_id, "Explain slowly")
    (answer,) = await emu.wait_until(lambda: [m for m in answers(emu, thread_id) if len(m.body) > 40])
    await discord_bot.stop()
    kept, notice = answer.body.split("\n\n", 1)
    assert kept.startswith("a long careful answer") and not kept.endswith("▌")
    assert notice.startswith(INTERRUPTED) and not answer.buttons()


async def test_without_the_message_content_intent_learners_ask_with_ask_or_a_mention(
    discord_emulator: DiscordEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path, fast_discord: None
) -> None:
    emu = discord_emulator
    emu.message_content_allowed = False  # not enabled in the Developer Portal: IDENTIFY with it is closed 4014
    harness = DiscordHarness(emu, discord_settings(emu, fake_anthropic, tmp_path / "db.sqlite"))
    await harness.start()
    try:
        assert emu.identified_intents and not emu.identified_intents[-1] & MESSAGE_CONTENT_INTENT
        alice = emu.add_user("alice")
        thread_id, _ = await open_lab(emu, alice)
        await emu.say(alice, thread_id, "A question the bot cannot read")
        (hint,) = await emu.wait_until(lambda: [m for m in emu.channel_messages(thread_id) if "/ask" in m.content
                                                and m.data.get("message_reference")])
        assert "Message Content" in hint.content
        await ask(emu, alice, thread_id, f"<@{emu.bot.id}> Can you read this one?")
        (echo,) = await emu.responded(await emu.slash(alice, "ask", channel_id=thread_id, question="And this?"))
        assert "And this?" in echo.content
        await emu.wait_until(lambda: progress_shown(emu, thread_id, "Question 2 of 3"))
        assert [r.question for r in fake_anthropic.requests] == ["Can you read this one?", "And this?"]
    finally:
        await harness.stop()
