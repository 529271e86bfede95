"""Feedback on lab answers: stored once per learner and answer, changed by a second click, shown to instructors;
sources opened from the stored turn. The store parts run on SQLite and PostgreSQL (``store_target``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.core.course import CourseError, CourseService
from bot.core.feedback import AnswerFeedbackService, thanks, unhelpful_text
from bot.core.store.base import LabTurn, LessonSource, Store
from tests.postgres import StoreTarget
from tests.unit.course_factory import learner, make_course, opened_store


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    async with opened_store(store_target.url) as opened:
        yield opened


async def answered(store: Store, who: int = 1, *, status: str = "complete", question: str = "Why stream?",
                   sources: tuple[LessonSource, ...] = ()) -> int:
    """A finished answer of learner ``who`` in lab 1; its answer id."""
    me = await store.learner_id(learner(who))
    thread = await store.create_lab_thread(me, 5, 1, "discord", f"thread-{who}-{question}")
    claim = await store.claim_answer(f"ev-{who}-{question}", thread.id, me, question, owner="p", lease=30)
    assert claim is not None
    turn = LabTurn(question=question, answer="Because." if status != "failed" else "", status=status,  # type: ignore[arg-type]
                   sources=sources)
    assert await store.finish_claim(claim.id, turn)
    return claim.id


async def test_feedback_is_stored_once_per_learner_and_answer_and_a_second_click_changes_it(store: Store) -> None:
    answer = await answered(store)
    me = await store.learner_id(learner(1))

    first = await store.set_feedback(answer, me, False, "Too vague")
    again = await store.set_feedback(answer, me, False)  # 👎 clicked again: the reason stays
    changed = await store.set_feedback(answer, me, True)  # a change of mind clears it

    assert (first.helpful, first.reason) == (False, "Too vague")
    assert (again.helpful, again.reason) == (False, "Too vague")
    assert (changed.helpful, changed.reason) == (True, "")
    assert await store.feedback(answer, me) == changed
    assert (await store.learner_data(me))["answer_feedback"] and len((await store.learner_data(me))["answer_feedback"]) == 1


async def test_instructors_see_only_answers_standing_at_thumbs_down(store: Store) -> None:
    good, bad = await answered(store, 1, question="Good?"), await answered(store, 2, question="Bad?")
    ann, bob = await store.learner_id(learner(1)), await store.learner_id(learner(2))
    await store.set_feedback(good, ann, False)
    await store.set_feedback(good, ann, True)
    await store.set_feedback(bad, bob, False, "Off topic")

    rows = await store.unhelpful_answers(5)
    assert [(r.answer_id, r.lab, r.question, r.reason, r.platform, r.workspace) for r in rows] == [
        (bad, 1, "Bad?", "Off topic", "discord", "guild-1"),
    ]
    assert await store.unhelpful_answers(6) == []


async def test_forgetting_a_learner_deletes_their_feedback(store: Store) -> None:
    answer = await answered(store)
    me = await store.learner_id(learner(1))
    await store.set_feedback(answer, me, False, "Wrong")

    deleted = await store.forget_learner(me)

    assert deleted["answer_feedback"] == 1 and await store.unhelpful_answers(5) == []


async def test_sources_survive_in_the_store_and_a_finished_answer_is_found_by_its_id(store: Store) -> None:
    sources = (LessonSource(1, "Body"), LessonSource(1, "Key terms"))
    answer = await answered(store, sources=sources)

    found = await store.finished_answer(answer)
    assert found is not None and found.turn.sources == sources and found.thread.lab == 1
    assert await store.finished_answer(answer + 100) is None


# -- the service: who may rate, what is refused, what the instructor reads ------------------------------------

@pytest.fixture
async def service(tmp_path: object) -> AsyncIterator[AnswerFeedbackService]:
    async with opened_store(str(tmp_path) + "/course.db") as opened:
        yield AnswerFeedbackService(CourseService(make_course(), opened))


async def test_only_the_learner_who_asked_rates_and_bad_input_changes_nothing(service: AnswerFeedbackService) -> None:
    store = service.course.store
    answer = await answered(store)
    failed = await answered(store, question="Failed?", status="failed")

    with pytest.raises(CourseError, match="Only the learner who asked"):
        await service.rate(answer, learner(2), helpful=False)
    with pytest.raises(CourseError, match="under 300 characters"):
        await service.rate(answer, learner(1), helpful=False, reason="x" * 301)
    with pytest.raises(CourseError, match="Only answers with text"):
        await service.rate(failed, learner(1), helpful=True)
    with pytest.raises(CourseError, match="not finished"):
        await service.rate(answer + 100, learner(1), helpful=True)
    assert await store.feedback(answer, await store.learner_id(learner(1))) is None

    stored = await service.rate(answer, learner(1), helpful=False, reason="  Too \n vague ")
    assert stored.reason == "Too vague" and thanks(stored).startswith("👎 Thanks: your reason")
    lines = await service.unhelpful("discord", "guild-1")
    assert [(line.lab, line.lesson, line.question, line.reason) for line in lines] == [
        (1, "Lesson 1: Lesson 1", "Why stream?", "Too vague"),
    ]
    assert await service.unhelpful("discord", "another-guild") == []
    assert "Lab 1 (Lesson 1: Lesson 1)" in unhelpful_text(lines) and unhelpful_text([]) == ""


async def test_a_source_opens_from_the_stored_turn(service: AnswerFeedbackService) -> None:
    answer = await answered(service.course.store, sources=(LessonSource(1, "Body"),))

    section = await service.source(answer, 0)
    assert (section.title, section.markdown) == ("📖 Lesson 1 · Body", "Text of lesson 1.")
    with pytest.raises(CourseError, match="not part of this answer"):
        await service.source(answer, 1)
