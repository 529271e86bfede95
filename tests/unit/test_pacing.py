"""The shared pacer: windows respected, priorities, fair turns, penalties. Small windows keep it fast."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random

import pytest

from bot.core.streaming.pacing import EAGER_EXPONENT, EAGER_HORIZON, Pacer, Priority, RateLimits, _SlidingWindow


def _within(stamps: list[float], count: int, period: float) -> bool:
    """No ``count + 1`` grants inside any window of ``period`` seconds."""
    ordered = sorted(stamps)
    return all(later - earlier >= period for earlier, later in zip(ordered, ordered[count:]))


async def _grant_times(
    pacer: Pacer, buckets: list[str], *, priority: Priority = Priority.ORDINARY
) -> list[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    granted: list[tuple[str, float]] = []

    async def one(bucket: str) -> None:
        await pacer.acquire(bucket, priority=priority)
        granted.append((bucket, loop.time()))

    await asyncio.wait_for(asyncio.gather(*(one(bucket) for bucket in buckets)), timeout=10)
    return granted


async def test_a_bucket_never_exceeds_its_window() -> None:
    pacer = Pacer(RateLimits(per_bucket=(3, 0.1), global_=None, margin=0))
    granted = await _grant_times(pacer, ["a"] * 12, priority=Priority.FIRST)
    assert len(granted) == 12
    assert _within([at for _, at in granted], 3, 0.1)


async def test_ordinary_requests_are_spread_evenly() -> None:
    pacer = Pacer(RateLimits(per_bucket=(4, 0.2), global_=None, margin=0))
    stamps = [at for _, at in await _grant_times(pacer, ["a"] * 6)]
    # Not a burst of 4 then a pause: each grant waits for its share of the window.
    assert all(later - earlier >= 0.05 - 1e-3 for earlier, later in itertools.pairwise(stamps))


async def test_the_global_budget_spans_buckets() -> None:
    pacer = Pacer(RateLimits(per_bucket=(5, 1.0), global_=(4, 0.1), margin=0))
    granted = await _grant_times(pacer, [f"b{i}" for i in range(16)], priority=Priority.FIRST)
    assert _within([at for _, at in granted], 4, 0.1)


async def test_first_then_final_then_ordinary_requests() -> None:
    pacer = Pacer(RateLimits(per_bucket=(1, 0.05), global_=None, margin=0))
    order: list[str] = []

    async def one(name: str, priority: Priority) -> None:
        await pacer.acquire("a", priority=priority)
        order.append(name)

    await pacer.acquire("a")  # fills the window: everyone below has to wait
    waiting = [asyncio.create_task(one(f"ordinary{i}", Priority.ORDINARY)) for i in range(3)]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(one("final", Priority.FINAL)))
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(one("first", Priority.FIRST)))
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert order == ["first", "final", "ordinary0", "ordinary1", "ordinary2"]


async def test_first_texts_have_room_that_others_cannot_fill() -> None:
    pacer = Pacer(RateLimits(per_bucket=None, global_=(10, 60.0), margin=0))
    for number in range(9):
        await asyncio.wait_for(pacer.acquire(f"b{number}", priority=Priority.FIRST), timeout=1)
    # Final and ordinary requests may use 9 of the 10 slots, and in the shared window they are spaced too.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pacer.acquire("late", priority=Priority.FINAL), timeout=0.1)
    await asyncio.wait_for(pacer.acquire("new answer", priority=Priority.FIRST), timeout=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pacer.acquire("newer answer", priority=Priority.FIRST), timeout=0.1)


async def test_streams_sharing_a_bucket_take_turns() -> None:
    pacer = Pacer(RateLimits(per_bucket=(10, 0.05), global_=None, margin=0))
    order: list[int] = []

    async def stream(number: int) -> None:
        for _ in range(6):
            await pacer.acquire("workspace")
            order.append(number)
            await asyncio.sleep(0)  # the request itself

    await asyncio.wait_for(asyncio.gather(*(stream(n) for n in range(4))), timeout=10)
    rounds = [sorted(order[i : i + 4]) for i in range(0, len(order), 4)]
    assert rounds == [[0, 1, 2, 3]] * 6


async def test_penalize_holds_the_bucket_only() -> None:
    pacer = Pacer(RateLimits(per_bucket=(10, 0.01), global_=None, margin=0))
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.penalize("slow", 0.2)
    granted = dict(await _grant_times(pacer, ["slow", "other"]))
    assert granted["slow"] >= start + 0.2
    assert granted["other"] < granted["slow"]


async def test_a_global_penalty_holds_every_bucket() -> None:
    pacer = Pacer(RateLimits(per_bucket=(10, 0.01), global_=(100, 1.0), margin=0))
    start = asyncio.get_running_loop().time()
    pacer.penalize("any", 0.15, is_global=True)
    granted = await _grant_times(pacer, ["x", "y"], priority=Priority.FIRST)
    assert all(at >= start + 0.15 for _, at in granted)


async def test_a_caller_that_gives_up_does_not_block_the_queue() -> None:
    pacer = Pacer(RateLimits(per_bucket=(1, 0.05), global_=None, margin=0))
    await pacer.acquire("a")
    quitter = asyncio.create_task(pacer.acquire("a"))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.wait_for(pacer.acquire("a"), timeout=2)
    assert quitter.cancelled()


async def test_posts_have_their_own_window_when_configured() -> None:
    pacer = Pacer(RateLimits(per_bucket=(1, 10.0), global_=None, per_kind={"post": (5, 1.0)}, margin=0))
    await pacer.acquire("a")  # the only edit for ten seconds
    await asyncio.wait_for(pacer.acquire("a", kind="post", priority=Priority.FIRST), timeout=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pacer.acquire("a"), timeout=0.1)


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimits(per_bucket=(0, 1.0))
    with pytest.raises(ValueError):
        RateLimits(global_=(5, 0.0))
    with pytest.raises(ValueError):
        RateLimits(margin=-1)


async def test_global_only_requests_share_the_global_window_and_no_bucket_window() -> None:
    pacer = Pacer(RateLimits(per_bucket=(1, 10.0), global_=(4, 0.1), margin=0))
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    async def one() -> None:
        await pacer.acquire_global(priority=Priority.FINAL)
        stamps.append(loop.time())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(12))), timeout=5)
    assert len(stamps) == 12  # a per-bucket window of 1 per 10 s would have held 11 of them back
    assert _within(stamps, 4, 0.1)


async def test_global_load_counts_the_requests_of_the_last_period_and_those_waiting() -> None:
    pacer = Pacer(RateLimits(per_bucket=None, global_=(4, 60.0), margin=0))
    assert pacer.global_load() == 0.0
    for bucket in ("a", "b"):
        await pacer.acquire(bucket, priority=Priority.FIRST)  # first texts skip the spacing of ordinary edits
    assert pacer.global_load() == 0.5
    for bucket in ("c", "d"):
        await pacer.acquire(bucket, priority=Priority.FIRST)
    waiting = asyncio.create_task(pacer.acquire("e", priority=Priority.FIRST))
    await asyncio.sleep(0)
    assert pacer.global_load() == 1.25  # the window is full and one more waits for it
    waiting.cancel()


async def test_without_a_global_limit_the_load_is_zero() -> None:
    pacer = Pacer(RateLimits(per_bucket=(1, 60.0), global_=None, margin=0))
    await pacer.acquire("a")
    assert pacer.global_load() == 0.0


def test_an_eager_window_spends_its_budget_while_it_is_empty_and_evens_out_when_full() -> None:
    """Slack's per-minute tiers: a class asking at once gets the minute's budget while it asks."""
    even, eager = _SlidingWindow((100, 60.0)), _SlidingWindow((100, 60.0), eager=True)
    for window in (even, eager):
        window.take(0.0)
    assert even.free_at(Priority.ORDINARY) == pytest.approx(0.6)  # a minute's 100 spread over the minute
    assert eager.free_at(Priority.ORDINARY) == pytest.approx(EAGER_HORIZON / 100)  # nearly empty: spend it
    for n in range(1, 99):
        eager.take(n * 0.1)
    assert eager.free_at(Priority.ORDINARY) == pytest.approx(9.8 + 0.6 * (99 / 100) ** EAGER_EXPONENT)  # full: even
    assert eager.free_at(Priority.FIRST) <= 9.8  # first texts skip the spacing, as before


async def test_a_slot_held_for_a_final_text_is_not_spent_on_progress() -> None:
    """A per-minute tier shared by a class: progress edits stop short of the slots the answers' final texts
    will need, so no final waits out the minute."""
    pacer = Pacer(RateLimits(per_bucket=(3, 60.0), global_=None, margin=0, eager=frozenset({"edit"})))
    pacer.hold_final("workspace")
    for _ in range(2):  # FINAL: below the first texts, but not spaced like progress edits
        await asyncio.wait_for(pacer.acquire("workspace", priority=Priority.FINAL), timeout=1)
    with pytest.raises(TimeoutError):  # the third slot is the held one
        await asyncio.wait_for(pacer.acquire("workspace", priority=Priority.FINAL), timeout=0.2)
    await asyncio.wait_for(pacer.acquire("workspace", priority=Priority.COMPLETE), timeout=1)


async def test_progress_waits_while_every_free_slot_is_held_for_final_texts() -> None:
    """As many answers in flight as the window has slots: no progress request may take one, however empty the
    window is, until an answer gives its slot back."""
    pacer = Pacer(RateLimits(per_bucket=(2, 60.0), global_=None, margin=0, eager=frozenset({"edit"})))
    for _ in range(2):
        pacer.hold_final("workspace")
    progress = asyncio.ensure_future(pacer.acquire("workspace"))
    await asyncio.sleep(0.2)
    assert not progress.done()
    pacer.release_final("workspace")  # one answer ended without an edit (its stream stopped)
    await asyncio.wait_for(progress, timeout=1)


def test_an_answer_streaming_in_an_eager_window_takes_its_share_of_the_horizon() -> None:
    pacer = Pacer(RateLimits(per_bucket=(100, 60.0), global_=None, margin=0, eager=frozenset({"edit"})))
    pacer.join("workspace", "edit")
    assert pacer.fair_gap("workspace", "edit") == 0.0  # alone: no one else's turn to wait for
    pacer.leave("workspace", "edit")
    for _ in range(20):
        pacer.join("workspace", "edit")
    assert pacer.fair_gap("workspace", "edit") == pytest.approx(EAGER_HORIZON * 20 / 100)
    for _ in range(10):
        pacer.hold_final("workspace")  # slots kept for final texts are not shared out
    assert pacer.fair_gap("workspace", "edit") == pytest.approx(EAGER_HORIZON * 20 / 90)
    for _ in range(200):
        pacer.join("workspace", "edit")  # more answers than slots: they take turns, none waits past half
    assert pacer.fair_gap("workspace", "edit") == pytest.approx(EAGER_HORIZON / 2)
    for _ in range(218):
        pacer.leave("workspace", "edit")
    assert pacer.fair_gap("workspace", "edit") == pytest.approx(EAGER_HORIZON * 2 / 90)
    thread = Pacer(RateLimits(per_bucket=(5, 5.0), global_=None))  # a Discord thread's own bucket
    thread.join("thread", "edit")
    assert thread.fair_gap("thread", "edit") == 0.0  # not an eager window: its own spacing does it


def test_an_eager_window_no_answer_can_join_spends_its_budget_on_the_answers_in_it() -> None:
    window = _SlidingWindow((100, 60.0), eager=True)
    for index in range(80):
        window.take(index * 0.01)
    saving = window.free_at(Priority.ORDINARY) - window.last
    assert saving > 2 * EAGER_HORIZON / 100  # four fifths spent: the rest is kept for answers yet to come
    assert window.free_at(Priority.ORDINARY, closed=True) - window.last == pytest.approx(EAGER_HORIZON / 100)


async def test_appends_stop_saving_once_the_minutes_stream_starts_are_spent() -> None:
    limits = RateLimits(per_bucket=None, global_=None, margin=0, per_kind={"post": (2, 60.0), "append": (100, 60.0)},
                        eager=frozenset({"append"}), started_by={"append": "post"})
    pacer = Pacer(limits)
    now = asyncio.get_running_loop().time
    await pacer.acquire("workspace", priority=Priority.FIRST, kind="post")
    assert not pacer._closed(("append", "workspace"), now())  # another stream may still start this minute
    await pacer.acquire("workspace", priority=Priority.FIRST, kind="post")
    assert pacer._closed(("append", "workspace"), now())
    assert not pacer._closed(("append", "other workspace"), now())
    unlinked = Pacer(dataclasses.replace(limits, started_by={}))
    for _ in range(2):
        await unlinked.acquire("workspace", priority=Priority.FIRST, kind="post")
    assert not unlinked._closed(("append", "workspace"), now())  # appends not said to follow stream starts


async def test_holding_a_final_slot_leaves_windows_that_are_not_eager_alone() -> None:
    pacer = Pacer(RateLimits(per_bucket=(2, 60.0), global_=None, margin=0))  # a Discord thread's own bucket
    pacer.hold_final("thread")
    for _ in range(2):  # both slots still go to requests below the complete text
        await asyncio.wait_for(pacer.acquire("thread", priority=Priority.FINAL), timeout=1)


async def test_requests_counted_until_their_responses_never_arrive_bunched_past_the_limit() -> None:
    """Each request reaches the platform at some moment between leaving and its response, some held up on the
    way: counted until a period after its response, no period at the platform holds more than the limit."""
    count, period = 5, 0.2
    pacer = Pacer(RateLimits(per_bucket=None, global_=(count, period), margin=0))
    loop = asyncio.get_running_loop()
    rng = random.Random(9)
    arrivals: list[float] = []

    async def one() -> None:
        await pacer.acquire_global(priority=Priority.FIRST)
        held_up, answer = rng.choice((0.0, 0.0, 0.09)), rng.uniform(0.0, 0.01)
        await asyncio.sleep(held_up)
        arrivals.append(loop.time())
        await asyncio.sleep(answer)
        pacer.responded()

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(40))), timeout=10)
    assert len(arrivals) == 40
    assert _within(arrivals, count, period)


async def test_a_request_answered_at_once_frees_its_slot_a_period_after_its_response() -> None:
    pacer = Pacer(RateLimits(per_bucket=None, global_=(1, 0.2), margin=0.3))
    loop = asyncio.get_running_loop()
    await pacer.acquire_global(priority=Priority.FIRST)
    first = loop.time()
    await asyncio.sleep(0.01)
    pacer.responded()
    answered = loop.time()
    await pacer.acquire_global(priority=Priority.FIRST)
    second = loop.time()
    assert second - answered >= 0.2  # counted a whole period from its response
    assert second - first < 0.2 + 0.3  # not the period padded by the margin for requests never answered
