"""Answer claims: one claim per event id, leases that tell a live owner from a dead one, turns recorded once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.store.base import LabThread, LabTurn, Store
from tests.postgres import StoreTarget
from tests.unit.course_factory import learner, opened_store


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    """The store on SQLite, then on PostgreSQL."""
    async with opened_store(store_target.url) as opened:
        yield opened


async def _thread(store: Store, user: str = "ann", lab: int = 1) -> LabThread:
    learner_id = await store.learner_id(learner(user))
    return await store.create_lab_thread(learner_id, 5, lab, "console", f"{user}:{lab}")


async def test_an_event_is_claimed_once(store: Store) -> None:
    thread = await _thread(store)
    first = await store.claim_answer("ev-1", thread.id, thread.learner_id, "Why?", owner="a", lease=10)
    assert first is not None and first.status == "streaming" and first.owner == "a"
    assert await store.claim_answer("ev-1", thread.id, thread.learner_id, "Why?", owner="b", lease=10) is None
    assert await store.is_claimed("ev-1") and not await store.is_claimed("ev-2")
    assert await store.answer_claim(first.id) == first  # what a Stop pressed on another process looks up
    assert await store.answer_claim(first.id + 1000) is None


async def test_concurrent_claims_of_one_event_give_one_winner(store: Store) -> None:
    thread = await _thread(store)
    claims = await asyncio.gather(*(
        store.claim_answer("ev-race", thread.id, thread.learner_id, "q", owner=f"p{i}", lease=10) for i in range(20)
    ))
    assert sum(claim is not None for claim in claims) == 1


async def test_a_live_lease_is_not_expired_and_cannot_be_taken_over(store: Store) -> None:
    thread = await _thread(store)
    claim = await store.claim_answer("ev-1", thread.id, thread.learner_id, "q", owner="a", lease=30)
    assert claim is not None
    assert await store.expired_claims() == []
    assert not await store.take_over_claim(claim.id, owner="b", lease=30)


async def test_an_expired_lease_is_taken_over_by_one_process_only(store: Store) -> None:
    thread = await _thread(store)
    claim = await store.claim_answer("ev-1", thread.id, thread.learner_id, "q", owner="dead", lease=0)
    assert claim is not None
    await asyncio.sleep(0.01)
    assert [c.id for c in await store.expired_claims()] == [claim.id]
    assert await store.take_over_claim(claim.id, owner="b", lease=30)
    assert not await store.take_over_claim(claim.id, owner="c", lease=30)
    assert await store.expired_claims() == []
    # the old owner can no longer renew it
    assert not await store.renew_claim(claim.id, owner="dead", lease=30, message_ids=[], shown="", answer="")


async def test_renewal_checkpoints_messages_and_text(store: Store) -> None:
    thread = await _thread(store)
    claim = await store.claim_answer("ev-1", thread.id, thread.learner_id, "q", owner="a", lease=0)
    assert claim is not None
    assert await store.renew_claim(claim.id, owner="a", lease=0, message_ids=["m1", "m2"], shown="Hel ▌",
                                   answer="Hello")
    await asyncio.sleep(0.01)
    (expired,) = await store.expired_claims()
    assert (expired.message_ids, expired.shown, expired.answer) == (("m1", "m2"), "Hel ▌", "Hello")


async def test_finishing_records_the_turn_once(store: Store) -> None:
    thread = await _thread(store)
    claim = await store.claim_answer("ev-1", thread.id, thread.learner_id, "q", owner="a", lease=30)
    assert claim is not None
    turn = LabTurn(question="q", answer="a", status="complete", output_tokens=12)
    assert await store.finish_claim(claim.id, turn)
    assert not await store.finish_claim(claim.id, turn)
    assert await store.lab_turns(thread.id) == [turn]
    assert not await store.renew_claim(claim.id, owner="a", lease=30, message_ids=[], shown="", answer="")


async def test_an_interrupted_turn_is_stored_as_interrupted(store: Store) -> None:
    thread = await _thread(store)
    claim = await store.claim_answer("ev-1", thread.id, thread.learner_id, "q", owner="a", lease=30)
    assert claim is not None
    turn = LabTurn(question="q", answer="partial text", status="interrupted", error="the bot restarted")
    assert await store.finish_claim(claim.id, turn)
    assert (await store.lab_turns(thread.id))[0].status == "interrupted"


async def test_counts_for_limits_and_completion(store: Store) -> None:
    thread = await _thread(store)
    other = await _thread(store, "bob")
    since = datetime.now(UTC) - timedelta(seconds=1)
    for index, (status, tokens) in enumerate([("complete", 100), ("stopped", 20), ("complete", 30), ("failed", 0)]):
        claim = await store.claim_answer(f"ev-{index}", thread.id, thread.learner_id, "q", owner="a", lease=30)
        assert claim is not None
        await store.finish_claim(claim.id, LabTurn(question="q", answer="x", status=status, output_tokens=tokens))
    bobs = await store.claim_answer("ev-bob", other.id, other.learner_id, "q", owner="a", lease=30)
    assert bobs is not None
    await store.finish_claim(bobs.id, LabTurn(question="q", answer="x", status="complete", output_tokens=999))

    assert len(await store.claims_since(thread.learner_id, since)) == 4
    assert await store.claims_since(thread.learner_id, datetime.now(UTC) + timedelta(seconds=5)) == []
    assert await store.output_tokens_since(thread.learner_id, since) == 150
    assert await store.answered_turns(thread.learner_id, 5, 1) == 2
    assert await store.answered_turns(thread.learner_id, 5, 2) == 0
