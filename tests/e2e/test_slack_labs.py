"""Lab threads in Slack, end to end: the real bot, the Slack emulator, the fake Anthropic API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.messages import NO_CLAUDE
from bot.core.store.base import LearnerRef
from bot.core.store.sqlite import SQLiteStore
from tests.e2e.slack_harness import ALICE, BOB, CHANNEL, CONTENT, SlackBot, running_slack_bot
from tests.emulators.anthropic import Cut, FakeAnthropic, Reply, question_of
from tests.emulators.slack import Message, SlackEmulator, buttons

pytestmark = pytest.mark.e2e

ANSWER = "Streaming sends **tokens** as they are generated, so the first words arrive in well under a second."


async def open_lab(bot: SlackBot, number: int = 1, user: str = ALICE) -> Message:
    """``/lab N`` and wait for the lab's parent message."""
    before = len(bot.slack.channel_messages(CHANNEL))
    status, _ = await bot.slash("/lab", str(number), user=user)
    assert status == 200
    return (await bot.wait_for(lambda: bot.slack.channel_messages(CHANNEL)[before:]))[0]


async def answer_in(bot: SlackBot, parent: Message, count: int = 1, timeout: float = 15.0) -> list[Message]:
    """Wait until ``count`` answers in the thread stopped changing (stream stopped, footer shown)."""
    def done() -> list[Message] | None:
        replies = [m for m in bot.slack.bot_replies(CHANNEL, parent.ts) if not m.text.startswith("❓")]
        finished = [m for m in replies if not m.streaming and ("TTFT" in m.shown or "⚠️" in m.shown)]
        return replies if len(finished) >= count else None

    return await bot.wait_for(done, timeout)


async def test_lab_question_streams_into_one_message(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    long_answer = ANSWER + " " + " ".join(f"word{i}" for i in range(100))
    fake_anthropic.script(Reply(text=long_answer, chunk_chars=5, tokens_per_second=200))
    parent = await open_lab(slack_bot)
    assert "Lab 1" in parent.shown
    assert any(b["action_id"].startswith("lab:suggest:") for b in buttons(parent.blocks))

    await slack_bot.say("Why does streaming feel faster?", thread_ts=parent.ts)
    [reply] = await answer_in(slack_bot, parent)

    assert reply.shown.startswith(long_answer + "\n\n")
    assert "TTFT" in reply.shown
    assert len(reply.versions) > 2, "the answer grew in place instead of arriving at once"
    assert all(reply.versions[-1].markdown.startswith(v.markdown) for v in reply.versions), "it only grew"
    assert len(reply.versions[0].markdown) < 256 < len(long_answer), "the first words go out at once"
    methods = [c.method for c in slack_bot.slack.calls]
    assert methods.index("assistant.threads.setStatus") < methods.index("chat.startStream")
    assert [m for m in methods if m.endswith("Stream")][-1] == "chat.stopStream"
    assert fake_anthropic.requests[-1].question == "Why does streaming feel faster?"
    assert slack_bot.slack.statuses[-1]["status"] == "is thinking…"
    assert reply.shown.endswith(" · Question 1 of 3"), "the lab's progress is in the answer's footer"
    assert sum(slack_bot.slack.throttled.values()) == 0


async def test_lab_command_and_questions_are_acked_before_their_slow_work(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    """A slash command and a message event are acked while the Web API work they start is held up."""
    slack = slack_bot.slack
    posts = slack.hold("chat.postMessage")
    status, _ = await slack_bot.slash("/lab", "1")
    assert status == 200 and slack.channel_messages(CHANNEL) == []
    posts.set()
    [parent] = await slack_bot.wait_for(lambda: slack.channel_messages(CHANNEL))

    thinking = slack.hold("assistant.threads.setStatus")
    await slack_bot.say("Acked first?", thread_ts=parent.ts)  # returns once the bot acked the event
    assert fake_anthropic.request_count == 0 and slack.bot_replies(CHANNEL, parent.ts) == []
    thinking.set()
    [reply] = await answer_in(slack_bot, parent)
    assert "TTFT" in reply.shown


async def test_three_questions_complete_the_lab(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    parent = await open_lab(slack_bot)
    for n in range(1, 4):
        await slack_bot.say(f"Question number {n}?", thread_ts=parent.ts)
        replies = await answer_in(slack_bot, parent, count=n)
    assert [r.shown.rsplit(" · ", 1)[-1] for r in replies[:2]] == ["Question 1 of 3", "Question 2 of 3"]
    assert "🎉 Lab 1 complete!" in replies[2].shown
    assert [q.question for q in fake_anthropic.requests] == [f"Question number {n}?" for n in range(1, 4)]


async def test_suggested_question_button_asks_it(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    parent = await open_lab(slack_bot)
    first = buttons(parent.blocks)[0]
    await slack_bot.click(parent, action_id=first["action_id"])
    await answer_in(slack_bot, parent)
    assert fake_anthropic.requests[-1].question.startswith(first["text"]["text"].rstrip("…"))


async def test_only_the_labs_learner_gets_answers(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    parent = await open_lab(slack_bot, user=ALICE)
    await slack_bot.say("Can I ask too?", thread_ts=parent.ts, user=BOB)
    note = await slack_bot.new_ephemeral(BOB, 0)
    assert "belongs to another learner" in note.shown
    await slack_bot.click(parent, user=BOB, action_id="lab:suggest:0")
    await slack_bot.wait_for(lambda: len(slack_bot.slack.ephemerals_for(BOB)) == 2)
    assert fake_anthropic.request_count == 0
    assert slack_bot.slack.bot_replies(CHANNEL, parent.ts) == []


async def test_bot_ignores_its_own_messages_and_edits(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    """The emulator echoes every bot post and edit back as events (as Slack does); none reaches Claude."""
    fake_anthropic.script(Reply(text=ANSWER, chunk_chars=3, tokens_per_second=300))
    parent = await open_lab(slack_bot)
    await slack_bot.say("One question", thread_ts=parent.ts)
    await answer_in(slack_bot, parent)
    await slack_bot.click(parent, action_id="lab:suggest:0")  # the bot posts the question in the thread itself
    replies = await answer_in(slack_bot, parent, count=2)
    assert replies[-1].shown.endswith(" · Question 2 of 3")
    calls = len(slack_bot.slack.calls)
    await asyncio.sleep(0.3)  # let the echoed events arrive
    assert fake_anthropic.request_count == 2
    assert any(kind == "events_api" for kind, _ in slack_bot.slack.deliveries[2:])
    assert slack_bot.slack.calls[calls:] == [], "no echoed post or edit made the bot do anything"
    assert all(e.user == ALICE for e in slack_bot.slack.ephemerals)


async def test_a_redelivered_question_is_answered_once(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    parent = await open_lab(slack_bot)
    question = await slack_bot.say("Only once, please", thread_ts=parent.ts)
    await answer_in(slack_bot, parent)
    status, _ = await slack_bot.slack.deliver(
        "events_api", slack_bot.slack.message_events[(CHANNEL, question.ts)], mode=slack_bot.mode)
    assert status == 200
    await slack_bot.say("A new question", thread_ts=parent.ts)
    await answer_in(slack_bot, parent, count=2)
    assert [r.question for r in fake_anthropic.requests] == ["Only once, please", "A new question"]


async def test_a_second_question_while_answering_is_refused(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="word " * 200, chunk_chars=5, tokens_per_second=300))
    parent = await open_lab(slack_bot)
    await slack_bot.say("First", thread_ts=parent.ts)
    await slack_bot.wait_for(lambda: slack_bot.slack.bot_replies(CHANNEL, parent.ts))
    await slack_bot.say("Second", thread_ts=parent.ts)
    await slack_bot.wait_for(lambda: [e for e in slack_bot.slack.ephemerals_for(ALICE) if "still answering" in e.shown])
    [reply] = await answer_in(slack_bot, parent)
    assert reply.shown.startswith("word " * 199 + "word")
    assert [r.question for r in fake_anthropic.requests] == ["First"]


async def test_too_long_question_gets_a_clear_reply(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    parent = await open_lab(slack_bot)
    limit = slack_bot.settings.max_question_chars
    await slack_bot.say("x" * (limit + 1), thread_ts=parent.ts)
    note = await slack_bot.new_ephemeral(ALICE, 0)
    assert f"{limit + 1} characters" in note.shown and str(limit) in note.shown
    assert fake_anthropic.request_count == 0


async def test_model_text_cannot_ping_anyone(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    hostile = "Hey <!channel> and <!here> <!everyone>, ask <@U123> & <#C1|x> <https://evil.example|click>"
    fake_anthropic.script(Reply(text=hostile, chunk_chars=4))
    parent = await open_lab(slack_bot)
    await slack_bot.say("Say something rude", thread_ts=parent.ts)
    [reply] = await answer_in(slack_bot, parent)
    for version in reply.versions:
        raw = version.markdown + version.text
        assert "<!" not in raw and "<@" not in raw and "<#" not in raw and "<http" not in raw
    assert reply.shown.startswith(hostile), "escaped text still reads the same"


async def test_mid_stream_drop_keeps_the_partial_text(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply(text=ANSWER, chunk_chars=10, cut=Cut("drop", after=3)))
    parent = await open_lab(slack_bot)
    await slack_bot.say("Tell me about drops", thread_ts=parent.ts)
    [reply] = await answer_in(slack_bot, parent)
    assert reply.shown.startswith(ANSWER[:30])
    assert "cut off" in reply.shown
    assert not reply.streaming


async def test_stop_button_stops_the_answer(slack_bot: SlackBot, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Reply(text="word " * 400, chunk_chars=5, tokens_per_second=40))
    parent = await open_lab(slack_bot)
    await slack_bot.say("Talk for a long time", thread_ts=parent.ts)
    stop = await slack_bot.wait_for(
        lambda: [e for e in slack_bot.slack.ephemerals_for(ALICE) if buttons(e.blocks)])
    await slack_bot.wait_for(lambda: slack_bot.slack.bot_replies(CHANNEL, parent.ts))
    await slack_bot.click(stop[0], action_id="lab:stop")
    reply = await slack_bot.wait_for(
        lambda: next((m for m in slack_bot.slack.bot_replies(CHANNEL, parent.ts) if "Stopped" in m.shown), None))
    assert len(reply.shown) < len("word " * 400)
    assert "Stopping" in stop[0].shown


async def test_an_earlier_answers_stop_button_cannot_stop_the_next(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    long_text = "word " * 200
    fake_anthropic.script(Reply(text=ANSWER, chunk_chars=5, tokens_per_second=300),
                          Reply(text=long_text, chunk_chars=5, tokens_per_second=100))
    parent = await open_lab(slack_bot)
    await slack_bot.say("First", thread_ts=parent.ts)
    await answer_in(slack_bot, parent)
    await slack_bot.say("Second", thread_ts=parent.ts)
    stops = await slack_bot.wait_for(
        lambda: (found := [e for e in slack_bot.slack.ephemerals_for(ALICE) if buttons(e.blocks)])[1:] and found)
    await slack_bot.click(stops[0], action_id="lab:stop")  # the first answer's button, still on screen
    await slack_bot.wait_for(lambda: "already finished" in stops[0].shown)
    [_, second] = await answer_in(slack_bot, parent, count=2)
    assert second.shown.startswith(long_text + "\n\nTTFT"), "not stopped"


async def test_native_stream_expiry_falls_back_to_chat_update(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    text = " ".join(f"w{i}" for i in range(120))
    fake_anthropic.script(Reply(text=text, chunk_chars=4, tokens_per_second=150))
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=fake_anthropic) as bot:
        parent = await open_lab(bot)
        await bot.say("Stream for a while", thread_ts=parent.ts)
        [streaming] = await bot.wait_for(lambda: [m for m in bot.slack.bot_replies(CHANNEL, parent.ts)
                                                  if m.streaming and len(m.versions) > 1])
        assert bot.slack.expire_streams() == 1
        [reply] = await answer_in(bot, parent)
    assert reply is streaming
    assert reply.shown.startswith(text + "\n\n")
    assert bot.slack.call_count("chat.update") >= 1
    assert any(c.error == "message_not_in_streaming_state" for c in bot.slack.calls)


async def test_chat_update_streaming_when_native_is_off(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.script(Reply(text=ANSWER, chunk_chars=5, tokens_per_second=100))
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="http", anthropic=fake_anthropic,
                                 slack_native_streaming=False) as bot:
        parent = await open_lab(bot)
        await bot.say("Explain without native streams", thread_ts=parent.ts)
        [reply] = await answer_in(bot, parent)
    assert bot.slack.call_count("chat.startStream") == 0
    assert bot.slack.call_count("chat.update") >= 1
    assert reply.shown.startswith(ANSWER + "\n\n")
    assert "▌" in "".join(v.markdown for v in reply.versions[:-1]) and "▌" not in reply.shown


async def test_workspace_without_native_streaming_falls_back_to_chat_update(
    fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.reply = Reply(text=ANSWER, chunk_chars=5, tokens_per_second=100)
    async with SlackEmulator(native_streaming=False) as slack, running_slack_bot(
        slack, tmp_path / "db", mode="socket", anthropic=fake_anthropic
    ) as bot:
        parent = await open_lab(bot)
        await bot.say("First question", thread_ts=parent.ts)
        [first] = await answer_in(bot, parent)
        await bot.say("Second question", thread_ts=parent.ts)
        replies = await answer_in(bot, parent, count=2)
    assert [r.shown.split("\n\n")[0] for r in replies] == [ANSWER, ANSWER]
    assert first.versions[-1].markdown.startswith(ANSWER)
    assert bot.slack.call_count("chat.update") >= 2
    assert [c.method for c in bot.slack.calls if c.method.endswith("Stream")] == ["chat.startStream"], (
        "after the first refusal, answers go straight to chat.update")


async def test_without_claude_the_lab_says_it_is_unavailable(
    slack_emulator: SlackEmulator, tmp_path: Path
) -> None:
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=None) as bot:
        await bot.slash("/lab", "1")
        note = await bot.new_ephemeral(ALICE, 0)
    assert note.shown == NO_CLAUDE
    assert bot.slack.channel_messages(CHANNEL) == []


@pytest.mark.parametrize("native", [True, False], ids=["native-stream", "chat-update"])
async def test_twenty_concurrent_labs_in_one_workspace(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path, native: bool
) -> None:
    """20 learners ask at once: no 429 from Slack and every final text is exactly the model's answer, with
    native streams and with chat.update alone (Tier 3, one budget for the whole workspace)."""
    learners = [f"ULEARN{n:02d}" for n in range(20)]
    for n, user in enumerate(learners):
        slack_emulator.add_user(user, f"learner{n}")
    answers = {
        f"Question from learner {n}": f"Answer {n} (<@U{n}> & a > b): " + " ".join(f"tok{n}-{i}" for i in range(60))
        for n in range(20)
    }
    fake_anthropic.reply = Reply(text=lambda body: answers[question_of(body)],
                                 chunk_chars=6, tokens_per_second=100)
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=fake_anthropic,
                                 slack_native_streaming=native) as bot:
        parents = [await open_lab(bot, user=user) for user in learners]
        await asyncio.gather(*(
            bot.say(f"Question from learner {n}", thread_ts=parent.ts, user=user)
            for n, (user, parent) in enumerate(zip(learners, parents, strict=True))
        ))
        replies = await asyncio.gather(*(answer_in(bot, parent, timeout=60) for parent in parents))
    assert sum(slack_emulator.throttled.values()) == 0, slack_emulator.throttled
    assert (slack_emulator.call_count("chat.startStream") == 20) is native
    for n, [reply] in enumerate(replies):
        final = reply.shown
        assert final.split("\n\n")[0] == answers[f"Question from learner {n}"]
        assert final.startswith(answers[f"Question from learner {n}"] + "\n\nTTFT ")
        assert "<" not in reply.text, "sent escaped"


async def test_thirty_labs_in_one_channel_use_every_route(
    slack_emulator: SlackEmulator, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """A class of 30 asks at once in one channel: the workspace's 20 stream starts of the minute go to the
    first answers, the rest are posted plain (chat.postMessage, per channel) instead of waiting for a Tier 2
    slot; no 429, and every final text is exactly the model's answer whichever way it went."""
    learners = [f"UCLASS{n:02d}" for n in range(30)]
    for n, user in enumerate(learners):
        slack_emulator.add_user(user, f"learner{n}")
    answers = {f"Question {n}": f"Answer {n}: " + " ".join(f"w{n}-{i}" for i in range(40)) for n in range(30)}
    fake_anthropic.reply = Reply(text=lambda body: answers[question_of(body)],
                                 chunk_chars=8, tokens_per_second=80)
    async with running_slack_bot(slack_emulator, tmp_path / "db", mode="socket", anthropic=fake_anthropic) as bot:
        parents = [await open_lab(bot, user=user) for user in learners]
        await asyncio.gather(*(bot.say(f"Question {n}", thread_ts=parent.ts, user=user)
                               for n, (user, parent) in enumerate(zip(learners, parents, strict=True))))
        replies = await asyncio.gather(*(answer_in(bot, parent, timeout=90) for parent in parents))
    assert sum(slack_emulator.throttled.values()) == 0, slack_emulator.throttled
    streams = slack_emulator.call_count("chat.startStream")
    plain = [c for c in slack_emulator.calls if c.method == "chat.postMessage" and c.args.get("thread_ts")
             and not str(c.args.get("markdown_text", "")).startswith("❓")]
    assert streams <= 20 and streams + len(plain) == 30
    assert plain, "the answers past the stream budget were posted plain, not queued for a stream slot"
    for n, [reply] in enumerate(replies):
        assert reply.shown.startswith(answers[f"Question {n}"] + "\n\nTTFT "), reply.shown
        assert not reply.streaming


async def test_a_question_in_a_lab_another_process_is_still_recording_is_answered(
    slack_bot: SlackBot, fake_anthropic: FakeAnthropic
) -> None:
    """With several processes, the question can reach this one before the process that posted the lab's parent
    message has recorded it: a thread that young is looked up again for a moment instead of being ignored."""
    parent = await slack_bot.slack.say("Lab 1 (posted by another process)", user=ALICE, mode=slack_bot.mode)
    await slack_bot.say("Is this thread a lab yet?", thread_ts=parent.ts)
    await asyncio.sleep(1.0)  # meanwhile the other process writes the lab thread
    store = SQLiteStore(slack_bot.settings.db)
    await store.open()
    try:
        course = CourseService(load_course(CONTENT), store)
        await course.open_lab(LearnerRef("slack", slack_bot.slack.team_id, ALICE, "alice"), 1, "slack",
                              f"{CHANNEL}:{parent.ts}")
    finally:
        await store.close()
    await answer_in(slack_bot, parent)
    assert [r.question for r in fake_anthropic.requests] == ["Is this thread a lab yet?"]
