"""The progressive-edit engine against sinks that enforce Discord's and Slack's limits (windows shrunk ~50x)."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from bot.core.streaming import DeliveryError, Pacer, ProgressiveMessage, RateLimited, RateLimits, engine
from bot.core.streaming.pacing import Priority
from tests.limit_sinks import EmulatedPlatform, PlatformLimits, rejoin

CURSOR = " ▌"
JITTER = 0.02  # pacer margin: the emulator counts requests when they arrive, a little after the grant
# Discord's and Slack's windows, 50 times faster, enforced by the emulator and known to the pacer.
FAST_DISCORD = PlatformLimits(limit=2000, edit=(5, 0.1), post=(5, 0.1), global_=(50, 0.02))
FAST_SLACK = PlatformLimits(limit=4000, edit=(50, 1.2), post=(1, 0.02), append=(100, 1.2), stop=(20, 1.2))


def _pacer_for(limits: PlatformLimits) -> Pacer:
    per_kind = {"post": limits.post}
    for kind in ("append", "stop", "plain"):
        if window := getattr(limits, kind):
            per_kind[kind] = window
    return Pacer(RateLimits(per_bucket=limits.edit, global_=limits.global_, per_kind=per_kind, margin=JITTER))


def _simple_pacer(window: tuple[int, float] = (5, 0.05)) -> Pacer:
    return Pacer(RateLimits(per_bucket=window, global_=None, margin=JITTER))


def _small(limit: int = 120) -> PlatformLimits:
    return PlatformLimits(limit=limit, edit=(5, 0.05), post=(5, 0.05), global_=None)


_PIECES = ["word", "漢字かな", "😀", "👩\u200d💻", "e\u0301", "<@42>", "**bold it**", "https://x.io/a"]


def _fuzzed_answer(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        if rng.random() < 0.03:
            body = "".join(f"x_{n} = {rng.choice(_PIECES)!r}\n" for n in range(rng.randint(5, 120)))
            part = f"```{rng.choice(['', 'python', 'js'])}\n{body}```\n"
        else:
            part = rng.choice(_PIECES) + rng.choice([" ", " ", " ", "\n", "\n\n"])
        parts.append(part)
        size += len(part)
    return "".join(parts)


async def _stream(message: ProgressiveMessage, text: str, rng: random.Random, *, pause: float = 0.0005) -> None:
    """Feed ``text`` in random chunks, like tokens arriving."""
    position = 0
    while position < len(text):
        position = min(len(text), position + rng.randint(1, 12))
        message.update(text[:position])
        await asyncio.sleep(pause if rng.random() < 0.5 else 0)


def _without_suffix(messages: list[str], suffix: str) -> list[str]:
    """The messages minus the notice/footer finish() appended (in the last message, or alone if no room)."""
    if messages[-1] == suffix:
        return messages[:-1]
    assert messages[-1].endswith("\n\n" + suffix)
    return [*messages[:-1], messages[-1].removesuffix("\n\n" + suffix)]


def _assert_clean(platform: EmulatedPlatform) -> None:
    assert platform.violations == []
    assert platform.rejections == []


@pytest.mark.parametrize(("limits", "seed"), [(FAST_DISCORD, s) for s in range(6)] + [(FAST_SLACK, 6), (FAST_SLACK, 7)])
async def test_fuzzed_streams_land_byte_exact_within_the_limits(limits: PlatformLimits, seed: int) -> None:
    rng = random.Random(seed)
    platform = EmulatedPlatform(limits, latency=0.001)
    pacer = _pacer_for(limits)
    answers = {}

    async def one(number: int) -> None:
        sink = platform.sink(f"channel{number}" if limits is FAST_DISCORD else "workspace")
        message = ProgressiveMessage(sink, pacer, cursor=CURSOR)
        text = _fuzzed_answer(rng, rng.randint(100, limits.limit * 3))
        await _stream(message, text, rng)
        ids = await message.finish(text, footer="312 tokens")
        assert ids == sink.posted
        answers[number] = (text, sink.texts())

    await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(3))), timeout=60)
    _assert_clean(platform)
    for text, messages in answers.values():
        assert all(len(message) <= limits.limit for message in messages)
        assert rejoin(_without_suffix(messages, "312 tokens")) == text
        assert not any(CURSOR in message for message in messages)


async def test_first_text_is_posted_at_once_and_edits_follow_with_the_latest_text() -> None:
    platform = EmulatedPlatform(_small(2000), latency=0.01)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    text = "".join(f"token{i} " for i in range(200))  # one message
    await _stream(message, text, random.Random(1), pause=0.001)
    await message.finish(text)
    history = platform.history(sink.posted[0])
    assert history[0].endswith(CURSOR) and len(history[0]) < 40  # the first words, not a batch
    streamed = history[:-1]  # the last one only removes the cursor if the whole text was already shown
    assert all(shown.endswith(CURSOR) for shown in streamed)
    visible = [len(shown.removesuffix(CURSOR)) for shown in streamed]
    assert visible == sorted(set(visible))  # every request showed more; nothing stale, nothing repeated
    assert len(sink.posted) == 1
    assert len(history) < 200 / 3  # updates were coalesced, not queued
    assert history[-1] == text
    _assert_clean(platform)


async def test_status_is_shown_until_the_first_text_replaces_it() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    message.status("Claude is busy, retrying…")
    await asyncio.sleep(0.02)
    message.update("Hello")
    await message.finish("Hello there")
    history = platform.history(sink.posted[0])
    assert history[0] == "Claude is busy, retrying…"
    assert history[-1] == "Hello there"
    assert len(sink.posted) == 1


async def test_finish_without_text_replaces_the_status_with_the_notice() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    message.status("thinking…")
    await asyncio.sleep(0.01)
    await message.finish("", notice="⏹️ Stopped.")
    assert sink.texts() == ["⏹️ Stopped."]


async def test_finish_works_after_the_producer_was_cancelled() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    sent: list[str] = []

    async def produce() -> None:
        for i in range(10_000):
            sent.append(f"w{i} ")
            message.update("".join(sent))
            await asyncio.sleep(0.001)

    producer = asyncio.create_task(produce())
    await asyncio.sleep(0.15)
    producer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await producer
    so_far = "".join(sent)
    await message.finish(so_far, notice="⏹️ Stopped.")
    messages = sink.texts()
    assert len(messages) > 1  # the answer overflowed 120 characters into more messages
    assert rejoin(_without_suffix(messages, "⏹️ Stopped.")) == so_far
    _assert_clean(platform)


async def test_overflow_moves_on_and_earlier_messages_are_final() -> None:
    platform = EmulatedPlatform(_small(100), latency=0.002)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    text = "Intro line.\n```python\n" + "".join(f"value_{i} = {i}\n" for i in range(60)) + "```\nThat is all."
    await _stream(message, text, random.Random(3))
    await message.finish(text)
    messages = sink.texts()
    assert len(messages) > 3
    assert all(len(m) <= 100 for m in messages)
    assert messages[1].startswith("```python\n")
    assert rejoin(messages) == text
    for index, message_id in enumerate(sink.posted[:-1]):
        history = platform.history(message_id)
        assert history[-1] == messages[index]
        # Once the next message exists, this one got its final text at most once more.
        next_posted = next(r.at for r in platform.requests if r.message_id == sink.posted[index + 1])
        later = [r for r in platform.requests if r.message_id == message_id and r.at > next_posted]
        assert len(later) <= 1
    _assert_clean(platform)


async def test_footer_without_room_gets_its_own_message() -> None:
    platform = EmulatedPlatform(_small(100), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    text = "x " * 45
    await message.finish(text, notice="⚠️ The answer was cut off: the token limit was reached.", footer="TTFT 0.4 s")
    assert sink.texts() == [text, "⚠️ The answer was cut off: the token limit was reached.\n\nTTFT 0.4 s"]


async def test_an_open_code_block_is_closed_before_the_notice() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    await message.finish("```python\nx = 1", notice="⚠️ cut off")
    assert sink.texts() == ["```python\nx = 1\n```\n\n⚠️ cut off"]


async def test_the_final_edit_lands_after_429s() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    message.update("partial")
    await asyncio.sleep(0.02)
    platform.inject_429 = 4
    await asyncio.wait_for(message.finish("partial and complete"), timeout=10)
    assert len(platform.rejections) == 4
    assert sink.texts() == ["partial and complete"]
    assert platform.violations == []


async def test_a_failed_request_keeps_its_text_for_the_next_slot() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer())
    platform.inject_failures = 2  # the first post fails twice
    message.update("first")
    await asyncio.wait_for(message.finish("first words"), timeout=10)
    assert sink.texts() == ["first words"]


async def test_persistent_failure_gives_up_with_a_clear_error() -> None:
    platform = EmulatedPlatform(_small(), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer((50, 0.05)))
    platform.inject_failures = 1000
    with pytest.raises(DeliveryError) as caught:
        await asyncio.wait_for(message.finish("never lands"), timeout=10)
    assert isinstance(caught.value.__cause__, ConnectionError)
    message.update("ignored now")  # does not start sending again
    assert platform.inject_failures == 1000 - 5


async def test_streams_sharing_a_workspace_get_fair_turns() -> None:
    platform = EmulatedPlatform(PlatformLimits(limit=4000, edit=(20, 0.2), post=(10, 0.01)), latency=0.001)
    pacer = Pacer(RateLimits(per_bucket=(20, 0.2), global_=None, per_kind={"post": (10, 0.01)}, margin=JITTER))
    sinks = [platform.sink("workspace", post_bucket=f"channel{n}") for n in range(10)]
    stop = asyncio.Event()

    async def one(sink) -> None:  # type: ignore[no-untyped-def]
        message = ProgressiveMessage(sink, pacer)
        words: list[str] = []
        while not stop.is_set():
            words.append("word ")
            message.update("".join(words))
            await asyncio.sleep(0.001)
        await message.finish("".join(words))

    tasks = [asyncio.create_task(one(sink)) for sink in sinks]
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
    edits = [sum(1 for r in platform.requests if r.kind == "edit" and r.message_id == s.posted[0]) for s in sinks]
    assert min(edits) >= 3
    assert max(edits) - min(edits) <= 2
    _assert_clean(platform)


async def test_native_streaming_appends_deltas_and_stops() -> None:
    platform = EmulatedPlatform(FAST_SLACK, latency=0.001)
    sink = platform.sink("workspace", native=True)
    message = ProgressiveMessage(sink, _pacer_for(FAST_SLACK))
    text = "".join(f"piece{i} " for i in range(300))
    await _stream(message, text, random.Random(5), pause=0.002)
    await message.finish(text, footer="done")
    kinds = [r.kind for r in platform.requests]
    assert kinds[0] == "post" and kinds[-1] == "stop"
    assert "append" in kinds and "edit" not in kinds
    assert sink.texts() == [text + "\n\ndone"]
    assert sink.streaming == {}
    _assert_clean(platform)


async def test_native_streaming_falls_back_to_edits_when_the_stream_expires() -> None:
    platform = EmulatedPlatform(FAST_SLACK, latency=0.001)
    sink = platform.sink("workspace", native=True)
    sink.expire_after = 2
    message = ProgressiveMessage(sink, _pacer_for(FAST_SLACK))
    text = "".join(f"piece{i} " for i in range(300))
    await _stream(message, text, random.Random(6), pause=0.003)
    await message.finish(text)
    kinds = [r.kind for r in platform.requests]
    assert kinds.count("append") == 2
    assert kinds[-1] == "edit"
    assert sink.texts() == [text]
    _assert_clean(platform)


async def test_native_streaming_replaces_a_status_with_an_edit() -> None:
    platform = EmulatedPlatform(FAST_SLACK, latency=0.001)
    sink = platform.sink("workspace", native=True)
    message = ProgressiveMessage(sink, _pacer_for(FAST_SLACK))
    message.status("retrying…")
    await asyncio.sleep(0.05)
    await message.finish("the answer")
    assert [r.kind for r in platform.requests] == ["post", "edit"]
    assert sink.texts() == ["the answer"]


def test_a_limit_too_small_is_refused() -> None:
    platform = EmulatedPlatform(_small(20))
    with pytest.raises(ValueError):
        ProgressiveMessage(platform.sink("c"), Pacer())


async def test_finish_does_not_wait_out_an_ordinary_slot() -> None:
    platform = EmulatedPlatform(PlatformLimits(limit=2000, edit=(2, 60.0), post=(2, 60.0)), latency=0.001)
    sink = platform.sink("c")
    message = ProgressiveMessage(sink, _simple_pacer((2, 60.0)))  # ordinary edits: one per 30 s
    message.update("first")
    await asyncio.sleep(0.02)  # posted (urgent); the next edit waits for an ordinary slot
    message.update("first and more")
    await asyncio.sleep(0.02)
    await asyncio.wait_for(message.finish("first and more, complete"), timeout=5)
    assert sink.texts() == ["first and more, complete"]
    assert [r.kind for r in platform.requests] == ["post", "edit"]


async def test_a_finished_answer_goes_whole_ahead_of_other_first_texts() -> None:
    """Hundreds of answers on one budget: an answer whose model has finished before it was shown is posted
    complete, in one request, before answers still streaming get their first words."""
    limits = PlatformLimits(limit=2000, edit=(5, 0.05), post=(5, 0.05), global_=(1, 0.3))
    platform = EmulatedPlatform(limits, latency=0.001)
    pacer = _pacer_for(limits)
    await pacer.acquire_global(priority=Priority.FIRST)  # another answer's request fills the budget
    streaming = ProgressiveMessage(platform.sink("a"), pacer)
    finished = ProgressiveMessage(platform.sink("b"), pacer)
    streaming.update("still streaming")
    await asyncio.sleep(0)  # its first text waits for the budget
    await asyncio.wait_for(finished.finish("first words, and the whole answer", footer="done"), timeout=2)
    assert [(r.bucket, r.kind) for r in platform.requests] == [("b", "post")]  # one request, and first
    assert platform.history(finished.message_ids[0]) == ["first words, and the whole answer\n\ndone"]
    await asyncio.wait_for(streaming.finish("still streaming, now done"), timeout=2)
    assert [r.bucket for r in platform.requests] == ["b", "a"]
    _assert_clean(platform)


async def test_an_answer_that_finished_unseen_goes_before_the_final_texts_of_answers_shown() -> None:
    """Of the finished answers waiting for the budget, one whose learner sees nothing yet goes first: its first
    text had been waiting (at first-text priority) when its model finished, and another answer's final edit
    queued before that finish."""
    limits = PlatformLimits(limit=2000, edit=(5, 0.05), post=(5, 0.05), global_=(1, 0.3))
    platform = EmulatedPlatform(limits, latency=0.001)
    pacer = _pacer_for(limits)
    shown = ProgressiveMessage(platform.sink("a"), pacer)
    unseen = ProgressiveMessage(platform.sink("b"), pacer)
    shown.update("a's first words")
    await asyncio.sleep(0.01)  # posted: the budget is full for a while
    unseen.update("b's first words")
    await asyncio.sleep(0)  # its first text waits for the budget
    finishing = asyncio.create_task(shown.finish("a's first words, and the rest"))
    await asyncio.sleep(0)  # its final edit waits too, ahead of b's first text so far
    await asyncio.wait_for(asyncio.gather(finishing, unseen.finish("b's first words, and the rest")), timeout=3)
    assert [(r.bucket, r.kind) for r in platform.requests] == [("a", "post"), ("b", "post"), ("a", "edit")]
    assert platform.history(unseen.message_ids[0]) == ["b's first words, and the rest"]  # whole, in one post
    _assert_clean(platform)


async def test_native_streaming_overflows_into_new_streams_and_stops_them_all() -> None:
    limits = PlatformLimits(limit=120, edit=(50, 1.2), post=(10, 0.02), append=(100, 1.2), stop=(20, 1.2))
    platform = EmulatedPlatform(limits, latency=0.001)
    sink = platform.sink("workspace", native=True)
    message = ProgressiveMessage(sink, _pacer_for(limits))
    text = "Some code:\n```python\n" + "".join(f"item_{i} = {i}\n" for i in range(40)) + "```\nEnd."
    await _stream(message, text, random.Random(8), pause=0.002)
    await message.finish(text)
    messages = sink.texts()
    assert len(messages) > 3
    assert rejoin(messages) == text
    assert sink.streaming == {}  # every stream was stopped (or ended by an edit)
    assert {r.kind for r in platform.requests} >= {"post", "append", "stop"}
    _assert_clean(platform)


async def test_the_emulated_platform_refuses_what_the_real_one_would() -> None:
    """The checks above are only as good as the emulator: it must answer 429 and flag misuse."""
    platform = EmulatedPlatform(PlatformLimits(limit=10, edit=(2, 60.0), post=(5, 60.0)))
    sink = platform.sink("c")
    message_id = await sink.post("one")
    await sink.edit(message_id, "two")
    await sink.edit(message_id, "three")
    with pytest.raises(RateLimited):
        await sink.edit(message_id, "four")
    with pytest.raises(ValueError):
        await sink.post("x" * 11)
    assert len(platform.rejections) == 1
    assert platform.violations == ["message 2 is 11 > 10 characters"]


# -- a Slack answer that may stream natively or post plain (HybridStreamSink) ------------------------------

# Slack's windows, slowed to a minute of 2 s: start/stop 4, appends 20, updates 10, plain posts 6 per channel.
HYBRID = PlatformLimits(limit=4000, edit=(10, 2.0), post=(4, 2.0), append=(20, 2.0), stop=(4, 2.0), plain=(6, 2.0))


async def test_first_texts_take_a_plain_post_when_no_stream_can_start() -> None:
    """Ten answers in one channel at once: four native streams, six plain posts, none waits for a Tier 2 slot."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _pacer_for(HYBRID)
    sinks = [platform.hybrid_sink("T1", "C1") for _ in range(10)]
    messages = [ProgressiveMessage(sink, pacer) for sink in sinks]
    for message in messages:
        message.update("First words")
    await asyncio.sleep(0.05)
    firsts = [r for r in platform.requests if r.kind in ("post", "plain")]
    assert sorted(r.kind for r in firsts) == ["plain"] * 6 + ["post"] * 4
    assert max(r.at for r in firsts) - min(r.at for r in firsts) < 0.05  # all at once, none waited
    text = "First words and the rest of the answer."
    await asyncio.gather(*(message.finish(text, footer="done") for message in messages))
    assert all(sink.texts() == [text + "\n\ndone"] for sink in sinks)
    _assert_clean(platform)


async def test_plain_messages_show_the_cursor_and_streams_do_not() -> None:
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _pacer_for(HYBRID)
    native, plain = platform.hybrid_sink("T1", "C1"), platform.hybrid_sink("T1", "C1")
    plain.native = False  # a workspace without streaming: the plain route only
    for sink in (native, plain):
        message = ProgressiveMessage(sink, pacer)
        text = "".join(f"word{i} " for i in range(200))
        await _stream(message, text, random.Random(3), pause=0.003)
        await message.finish(text)
        history = platform.history(sink.posted[0])
        assert history[-1] == text
        if sink is native:
            assert not any(CURSOR in version for version in history)
        else:
            assert sink.plain == sink.posted and all(version.endswith(CURSOR) for version in history[:-1])
    _assert_clean(platform)


async def test_a_plain_post_shows_the_cursor_from_its_first_text() -> None:
    """Posted plain, a message is edited from then on: its first text carries the cursor, so no edit is spent on
    drawing the cursor alone (Slack's chat.update is the scarcest budget of a class)."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    sink = platform.hybrid_sink("T1", "C1")
    sink.native = False
    message = ProgressiveMessage(sink, _pacer_for(HYBRID))
    message.update("The first words")
    await asyncio.sleep(0.2)  # nothing new arrives meanwhile
    await message.finish("The first words, and the rest.")
    assert [r.kind for r in platform.requests] == ["plain", "edit"]
    assert platform.history(sink.posted[0]) == ["The first words" + CURSOR, "The first words, and the rest."]
    _assert_clean(platform)


async def test_a_final_text_does_not_wait_for_a_stop_slot() -> None:
    """With chat.stopStream's window spent, a stream's final text replaces it with chat.update."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _pacer_for(HYBRID)
    for _ in range(HYBRID.stop[0]):
        await pacer.acquire("T1", kind="stop")  # other answers just ended their streams
    sink = platform.hybrid_sink("T1", "C1")
    message = ProgressiveMessage(sink, pacer)
    message.update("The answer")
    await asyncio.sleep(0.02)
    await asyncio.wait_for(message.finish("The answer, complete."), timeout=HYBRID.stop[1] / 2)
    assert [r.kind for r in platform.requests] == ["post", "edit"]
    assert sink.texts() == ["The answer, complete."]
    _assert_clean(platform)


async def test_a_stream_whose_appends_are_spent_ends_without_waiting_for_one() -> None:
    """A class spent the workspace's appends: a progress append waits for the window. When the answer finishes
    meanwhile, its complete text ends the stream by chat.stopStream at once instead of taking that append."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _pacer_for(HYBRID)
    sink = platform.hybrid_sink("T1", "C1")
    message = ProgressiveMessage(sink, pacer)
    message.update("The answer")
    await asyncio.sleep(0.02)  # the stream started
    for _ in range(HYBRID.append[0]):
        await pacer.acquire("T1", priority=Priority.FIRST, kind="append")  # other answers' appends
    message.update("The answer, growing")
    await asyncio.sleep(0.02)  # its progress append waits for the window
    await asyncio.wait_for(message.finish("The answer, growing, complete."), timeout=HYBRID.append[1] / 2)
    assert [r.kind for r in platform.requests] == ["post", "stop"]
    assert sink.texts() == ["The answer, growing, complete."]
    _assert_clean(platform)


def _eager_hybrid_pacer() -> Pacer:
    """``HYBRID``'s windows, the per-workspace ones spent eagerly as Slack's are (``bot/slack/pacing.py``)."""
    per_kind = {kind: getattr(HYBRID, kind) for kind in ("post", "append", "stop", "plain")}
    return Pacer(RateLimits(per_bucket=HYBRID.edit, global_=None, per_kind=per_kind, margin=JITTER,
                            eager=frozenset({"edit", "append", "stop"})))


async def test_a_plain_answer_whose_end_would_find_no_update_slot_is_posted_whole() -> None:
    """A class asking over the minute spent the workspace's updates: an answer posted now would show its start
    and wait most of a minute for its end. It is held back and posted complete, in one request, instead."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _eager_hybrid_pacer()
    for _ in range(HYBRID.edit[0] - 1):
        await pacer.acquire("T1", priority=Priority.COMPLETE)  # earlier answers' edits this minute
    pacer.hold_final("T1")  # and one answer in flight keeps the last slot for its end
    sink = platform.hybrid_sink("T1", "C1")
    sink.native = False  # no stream slot either: the plain route only
    message = ProgressiveMessage(sink, pacer)
    message.update("The answer")
    await asyncio.sleep(0.05)
    assert platform.requests == []  # held back: its end could not be shown for most of the window
    await asyncio.wait_for(message.finish("The answer, complete."), timeout=HYBRID.edit[1] / 4)
    assert [r.kind for r in platform.requests] == ["plain"]
    assert sink.texts() == ["The answer, complete."]
    _assert_clean(platform)


async def test_answers_that_decide_together_do_not_count_the_same_free_update_slot() -> None:
    """One slot left for a final text and two answers about to post: one posts, the other is held back."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _eager_hybrid_pacer()
    for _ in range(HYBRID.edit[0] - 1):
        await pacer.acquire("T1", priority=Priority.COMPLETE)
    sinks = [platform.hybrid_sink("T1", "C1") for _ in range(2)]
    messages = []
    for sink in sinks:
        sink.native = False
        messages.append(ProgressiveMessage(sink, pacer))
    for message in messages:
        message.update("The answer")
    await asyncio.sleep(0.05)
    assert [r.kind for r in platform.requests] == ["plain"]  # the first takes the slot; the second waits
    for message in messages:
        await asyncio.wait_for(message.finish("The answer, complete."), timeout=HYBRID.edit[1])
    assert all(sink.texts() == ["The answer, complete."] for sink in sinks)
    _assert_clean(platform)


async def test_a_held_back_plain_answer_goes_once_the_window_has_room_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The held back answer looks again: when the window's old edits expire, its first text goes as usual."""
    monkeypatch.setattr(engine, "HELD_BACK_RECHECK", 0.1)
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _eager_hybrid_pacer()
    for _ in range(HYBRID.edit[0]):
        await pacer.acquire("T1", priority=Priority.COMPLETE)
    sink = platform.hybrid_sink("T1", "C1")
    sink.native = False
    message = ProgressiveMessage(sink, pacer)
    message.update("The answer")
    await asyncio.sleep(HYBRID.edit[1] + JITTER + 0.3)  # the window empties, and it looks again
    assert platform.requests[0].kind == "plain" and sink.texts()[0].startswith("The answer")
    await asyncio.wait_for(message.finish("The answer, complete."), timeout=HYBRID.edit[1])
    assert sink.texts() == ["The answer, complete."]
    _assert_clean(platform)


async def test_an_answer_that_just_posted_waits_its_turn_for_a_progress_slot() -> None:
    """A class's first appends went to the answers that had just posted, and the rest of each answer waited
    longer: an answer's next progress request waits for its share of the workspace's window."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    pacer = _eager_hybrid_pacer()
    pacer.join("T1", "append")  # another answer streams in the workspace
    message = ProgressiveMessage(platform.hybrid_sink("T1", "C1"), pacer)
    text = ""
    for n in range(60):
        text += f"word{n} "
        message.update(text)
        await asyncio.sleep(0.02)
    gap = pacer.fair_gap("T1", "append")
    await message.finish(text)
    times = [request.at for request in platform.requests]
    assert [r.kind for r in platform.requests[:2]] == ["post", "append"]
    assert min(later - earlier for earlier, later in itertools.pairwise(times[:-1])) >= gap - JITTER
    assert times[-1] - times[-2] < gap  # the end does not wait for a turn
    _assert_clean(platform)


async def test_a_long_stream_moves_to_a_new_message_before_it_expires() -> None:
    """A stream the platform would end (about five minutes in on Slack) hands over to a new message in time,
    at a clean boundary, with an open code block closed and reopened across it."""
    platform = EmulatedPlatform(HYBRID, latency=0.001)
    sink = platform.hybrid_sink("T1", "C1", stream_lifetime=30.4)  # moves on 30 s (the margin) before that
    message = ProgressiveMessage(sink, _pacer_for(HYBRID))
    text = "Look:\n```python\n" + "".join(f"value_{i} = {i}\n" for i in range(150)) + "```\nDone."
    await _stream(message, text, random.Random(9), pause=0.01)
    await message.finish(text)
    messages = sink.texts()
    assert len(messages) >= 2
    assert rejoin(messages) == text
    assert messages[0].endswith("```") and messages[1].startswith("```python")
    assert sink.streaming == {}
    _assert_clean(platform)  # no append reached an expired stream
