"""AnswerSlots: a cap per learner and in all, shared fairly between learners (the order slots are granted in)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from bot.core.slots import AnswerSlots


class Asker:
    """Questions asking for slots as tasks; ``granted`` lists (learner, question) in the order slots came."""

    def __init__(self, slots: AnswerSlots) -> None:
        self.slots = slots
        self.granted: list[tuple[Hashable, int]] = []
        self.waits: list[tuple[Hashable, int, bool]] = []  # (learner, question, waits for their own answers)
        self.tasks: dict[tuple[Hashable, int], asyncio.Task[None]] = {}

    async def ask(self, learner: Hashable, question: int) -> None:
        async def take() -> None:
            await self.slots.acquire(learner, on_wait=lambda own: self.waits.append((learner, question, own)))
            self.granted.append((learner, question))

        self.tasks[learner, question] = asyncio.create_task(take())
        await asyncio.sleep(0)  # let it take a slot or queue, in the order asked

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)


async def test_a_flooding_learner_never_has_more_than_their_cap_streaming() -> None:
    slots = AnswerSlots(per_learner=2, total=50)
    asker = Asker(slots)
    for question in range(6):
        await asker.ask("flood", question)
    await asker.settle()
    assert asker.granted == [("flood", 0), ("flood", 1)]
    assert [(q, own) for _, q, own in asker.waits] == [(2, True), (3, True), (4, True), (5, True)]

    for finished in range(4):  # each answer that ends lets exactly the next one of theirs start
        slots.release("flood")
        await asker.settle()
        assert slots.running_for("flood") == 2
        assert asker.granted[-1] == ("flood", 2 + finished)
    slots.release("flood")
    slots.release("flood")
    assert slots.running == 0


async def test_another_learners_first_answer_starts_at_once_beside_a_flood() -> None:
    slots = AnswerSlots(per_learner=2, total=50)
    asker = Asker(slots)
    for question in range(6):
        await asker.ask("flood", question)
    await asker.ask("other", 0)
    await asker.settle()
    assert ("other", 0) in asker.granted
    assert not any(learner == "other" for learner, _, _ in asker.waits), "no queue notice for a free slot"


async def test_at_the_total_cap_another_learner_goes_before_the_floods_queued_answers() -> None:
    slots = AnswerSlots(per_learner=2, total=2)
    asker = Asker(slots)
    for question in range(6):
        await asker.ask("flood", question)
    await asker.ask("other", 0)
    await asker.settle()
    assert ("other", 0, False) in asker.waits  # told the class is busy, not that their own answers are

    slots.release("flood")  # the first slot that frees goes to the learner with nothing streaming
    await asker.settle()
    assert asker.granted[2:] == [("other", 0)]
    slots.release("flood")
    await asker.settle()
    assert asker.granted[3:] == [("flood", 2)]


async def test_learners_waiting_at_the_cap_take_turns() -> None:
    slots = AnswerSlots(per_learner=3, total=3)
    asker = Asker(slots)
    for learner in ("a", "b", "c"):
        await asker.ask(learner, 0)
    for question in (1, 2):
        for learner in ("a", "b"):
            await asker.ask(learner, question)
    await asker.settle()
    for _ in range(4):
        slots.release(asker.granted[-1][0])
        await asker.settle()
    assert asker.granted[3:] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


async def test_cancelling_a_queued_wait_passes_the_slot_on() -> None:
    slots = AnswerSlots(per_learner=1, total=1)
    asker = Asker(slots)
    await asker.ask("a", 0)
    await asker.ask("b", 0)
    await asker.ask("c", 0)
    asker.tasks["b", 0].cancel()  # b stopped their answer while it waited
    await asker.settle()
    slots.release("a")
    await asker.settle()
    assert asker.granted == [("a", 0), ("c", 0)]
    assert asker.tasks["b", 0].cancelled()
    assert slots.running_for("c") == 1 and slots.running == 1


async def test_a_slot_granted_as_the_wait_is_cancelled_is_handed_on() -> None:
    slots = AnswerSlots(per_learner=1, total=1)
    asker = Asker(slots)
    await asker.ask("a", 0)
    await asker.ask("b", 0)
    await asker.ask("c", 0)
    slots.release("a")  # b's future is granted, but b has not run yet...
    asker.tasks["b", 0].cancel()  # ...and is cancelled before it does
    await asker.settle()
    assert asker.granted == [("a", 0), ("c", 0)]
    assert slots.running_for("b") == 0 and slots.running == 1


def test_release_without_acquire_is_an_error() -> None:
    slots = AnswerSlots(per_learner=1, total=1)
    with pytest.raises(RuntimeError):
        slots.release("nobody")
    with pytest.raises(ValueError):
        AnswerSlots(per_learner=0, total=1)
