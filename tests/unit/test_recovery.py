"""The Reconciler: answers cut by a process that is gone are repaired through their platform and recorded, never
re-asked; live answers and other platforms' answers are left alone.

The platform's repair callback here records what it is asked to show (the adapters' real repairs are exercised
end to end in tests/e2e/test_crash_recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core import messages
from bot.core.recovery import Reconciler
from bot.core.store.base import AnswerClaim, LabThread
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits
from tests.emulators.anthropic import FakeAnthropic
from tests.unit.course_factory import count, learner
from tests.unit.lab_rig import Classroom, classroom
from tests.unit.test_labs import RecordingSink

SHOWN = "Streaming sends tokens as they are generated, so"
RECEIVED = SHOWN + " the first words arrive"  # the text had gone on since the last checkpoint


@dataclass
class Platform:
    """A platform's repair callback: what each cut answer's messages were made to show."""

    repaired: list[tuple[int, tuple[str, ...], str]] = field(default_factory=list)
    fail: bool = False

    async def repair(self, thread: LabThread, message_ids: Sequence[str], text: str) -> None:
        if self.fail:
            raise ConnectionError("the platform is unreachable")
        self.repaired.append((thread.id, tuple(message_ids), text))


@pytest.fixture
async def room(fake_anthropic: FakeAnthropic, tmp_path: Path) -> AsyncIterator[Classroom]:
    async with classroom(fake_anthropic, tmp_path) as rig:
        yield rig


@pytest.fixture
async def reconciler(room: Classroom) -> AsyncIterator[Reconciler]:
    recovery = Reconciler(room.store, owner="restarted-process")
    try:
        yield recovery
    finally:
        await recovery.close()


async def cut_answer(room: Classroom, thread: LabThread, event_id: str, *, message_ids: Sequence[str] = ("m1", "m2"),
                     shown: str = SHOWN, answer: str = RECEIVED, lease: float = 0.01) -> AnswerClaim:
    """An answer claimed and checkpointed by a process that then died (its lease runs out after ``lease`` s)."""
    claim = await room.store.claim_answer(event_id, thread.id, thread.learner_id, "Why stream?",
                                          owner="dead-process", lease=30)
    assert claim is not None
    await room.store.renew_claim(claim.id, owner="dead-process", lease=lease, message_ids=message_ids,
                                 shown=shown, answer=answer)
    return claim


def status_of(room: Classroom, claim: AnswerClaim) -> str:
    statuses = ("streaming", "done", "interrupted")
    found = [s for s in statuses if count(room.settings.db, "SELECT COUNT(*) FROM lab_answers WHERE id = ? AND "
                                                            "status = ?", claim.id, s)]
    return found[0]


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    async def wait() -> None:
        while not await condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), 5)


async def repaired(*platforms: Platform) -> None:
    """Wait until one of ``platforms`` was asked to repair an answer."""
    async def any_repaired() -> bool:
        return any(platform.repaired for platform in platforms)

    await until(any_repaired)


async def test_a_cut_answer_is_repaired_with_its_checkpoint_and_recorded_without_an_api_call(
    room: Classroom, reconciler: Reconciler
) -> None:
    thread = await room.thread()
    claim = await cut_answer(room, thread, "discord:1")
    await asyncio.sleep(0.05)
    platform = Platform()
    reconciler.register("discord", platform.repair)  # at start-up: the first sweep runs at once
    await repaired(platform)

    assert platform.repaired == [(thread.id, ("m1", "m2"), f"{SHOWN}\n\n{messages.INTERRUPTED}")]
    [turn] = await room.store.lab_turns(thread.id)
    assert (turn.question, turn.answer, turn.status) == ("Why stream?", RECEIVED, "interrupted")
    assert status_of(room, claim) == "interrupted"
    assert room.fake.request_count == 0
    assert (await room.course.lab_progress(thread)).asked == 0, "an interrupted answer does not count"
    message, _ = room.message()  # the same event redelivered after the restart: no new answer
    assert await room.assistant.ask(thread, "Why stream?", event_id="discord:1", message=message) is None
    assert room.fake.request_count == 0
    assert await reconciler.sweep() == 0, "repaired once"


async def test_an_answer_cut_before_its_first_checkpoint_gets_the_notice_alone(
    room: Classroom, reconciler: Reconciler
) -> None:
    thread = await room.thread()
    await cut_answer(room, thread, "discord:1", message_ids=(), shown="", answer="")
    await asyncio.sleep(0.05)
    platform = Platform()
    reconciler.register("discord", platform.repair)
    await repaired(platform)
    assert platform.repaired == [(thread.id, (), messages.INTERRUPTED)]


async def test_live_answers_and_other_platforms_answers_are_left_alone(
    room: Classroom, reconciler: Reconciler
) -> None:
    live_thread, dead_thread = await room.thread(who=1), await room.thread(who=2)
    slack_thread = await room.course.open_lab(learner(3, platform="slack"), 1, "slack", "C1:1700000000.000100")
    live = await cut_answer(room, live_thread, "discord:live", lease=30)  # its process is still renewing it
    await cut_answer(room, dead_thread, "discord:dead")
    slack = await cut_answer(room, slack_thread, "slack:dead")  # this process does not serve Slack
    await asyncio.sleep(0.05)
    platform = Platform()
    reconciler.register("discord", platform.repair)
    await repaired(platform)
    assert await reconciler.sweep() == 0

    assert [thread_id for thread_id, _, _ in platform.repaired] == [dead_thread.id]
    assert (status_of(room, live), status_of(room, slack)) == ("streaming", "streaming")
    assert await room.store.lab_turns(live_thread.id) == []
    assert [claim.event_id for claim in await room.store.expired_claims()] == ["slack:dead"]


async def test_two_reconcilers_repair_a_cut_answer_once(room: Classroom, reconciler: Reconciler) -> None:
    thread = await room.thread()
    await cut_answer(room, thread, "discord:1")
    await asyncio.sleep(0.05)
    other = Reconciler(room.store, owner="another-process")
    first, second = Platform(), Platform()
    try:
        reconciler.register("discord", first.repair)
        other.register("discord", second.repair)
        await repaired(first, second)
        assert sum(await asyncio.gather(reconciler.sweep(), other.sweep())) == 0
    finally:
        await other.close()
    assert len(first.repaired) + len(second.repaired) == 1
    assert len(await room.store.lab_turns(thread.id)) == 1


async def test_a_failed_repair_is_tried_again_when_its_lease_ends(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    """The platform is down when the cut answer is found: nothing is recorded yet, and the next sweep after the
    take-over lease repairs it (the message must not keep its cursor and Stop button)."""
    thread = await room.thread()
    await cut_answer(room, thread, "discord:1")
    await asyncio.sleep(0.05)
    platform = Platform(fail=True)
    recovery = Reconciler(room.store, owner="restarted-process", take_over_lease=0.2)
    recovery._repairs["discord"] = platform.repair  # swept by hand below, not by the background task
    with caplog.at_level(logging.WARNING, logger="bot.core.recovery"):
        assert await recovery.sweep() == 0
    assert "could not repair the cut answer" in caplog.text and "trying again" in caplog.text
    assert await room.store.lab_turns(thread.id) == []
    platform.fail = False
    assert await recovery.sweep() == 0  # its take-over lease still runs
    await asyncio.sleep(0.25)
    assert await recovery.sweep() == 1
    assert [text for _, _, text in platform.repaired] == [f"{SHOWN}\n\n{messages.INTERRUPTED}"]
    assert [turn.status for turn in await room.store.lab_turns(thread.id)] == ["interrupted"]


async def test_a_repair_failing_past_the_give_up_time_is_recorded_without_it(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    thread = await room.thread()
    await cut_answer(room, thread, "discord:1")
    await asyncio.sleep(0.05)
    recovery = Reconciler(room.store, owner="restarted-process", give_up_after=timedelta(0))
    recovery._repairs["discord"] = Platform(fail=True).repair
    with caplog.at_level(logging.WARNING, logger="bot.core.recovery"):
        assert await recovery.sweep() == 1
    assert "recording it without the repair" in caplog.text
    assert [turn.status for turn in await room.store.lab_turns(thread.id)] == ["interrupted"]


async def test_an_answer_whose_ending_fails_gives_back_what_the_pacer_kept_for_it(
    room: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails as the answer ends: the message is left as it is for the repair, and the final-text slot
    and the turn it had in a per-minute window go back to the class at once, not at the next restart."""
    pacer = Pacer(RateLimits(per_bucket=(50, 60.0), global_=None, eager=frozenset({"edit"})))
    sink = RecordingSink()

    async def store_down(*_: object, **__: object) -> bool:
        raise ConnectionError("the database is unreachable")

    monkeypatch.setattr(room.store, "finish_claim", store_down)
    with pytest.raises(ConnectionError):
        await room.assistant.ask(await room.thread(), event_id="evt-1", message=ProgressiveMessage(sink, pacer),
                                 question="What is TTFT?")
    window = pacer._bucket(sink.bucket, "edit").window
    assert sink.calls and (window.held, window.streams) == (0, 0)
