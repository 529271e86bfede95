"""CourseService: look-ups and friendly errors, quizzes, the module test and its pass mark, labs, progress, stats."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core import course as rules
from bot.core.course import CourseError, CourseService, passes
from bot.core.store.base import LabTurn, LearnerRef
from bot.core.store.sqlite import SQLiteStore
from tests.unit.course_factory import count, learner, make_course, make_module, opened_store, wrong_index


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "course.db"


@pytest.fixture
async def service(db_path: Path) -> AsyncIterator[CourseService]:
    async with opened_store(db_path) as store:
        yield CourseService(make_course(make_module(), make_module(6, labs=0, test_questions=0)), store)


def rows(db_path: Path, table: str) -> int:
    return count(db_path, f"SELECT COUNT(*) FROM {table}")


async def take_test(service: CourseService, who: LearnerRef, right: int, tag: str = "") -> rules.TestResult:
    """Answer the whole test with the first ``right`` questions correct and the rest wrong, then finish."""
    step = await service.start_test(who)
    while isinstance(step, rules.TestState):
        question = step.next_question
        option = question.correct_option.index if step.position <= right else wrong_index(question)
        event_id = f"{tag}{who.user_id}:{question.id}"
        step = await service.answer_test(who, step.attempt.id, question.id, option, event_id)
    return step


# Look-ups


def test_module_defaults_to_the_course_default(service: CourseService) -> None:
    assert service.module().number == 5
    assert service.module(6).number == 6
    assert service.lesson(2).title == "Lesson 2"
    assert service.quiz(3).lesson == 3
    assert service.lab(2, module=5).number == 2


@pytest.mark.parametrize(
    ("look_up", "error", "message"),
    [
        (lambda s: s.module(7), rules.UnknownModule, "There is no Module 7. Modules: 5, 6."),
        (lambda s: s.lesson(7), rules.UnknownLesson, "There is no lesson 7 in Module 5. Lessons: 1, 2, 3."),
        (lambda s: s.lesson(1, module=7), rules.UnknownModule, "There is no Module 7. Modules: 5, 6."),
        (
            lambda s: s.quiz(4),
            rules.UnknownLesson,
            "There is no quiz for lesson 4 in Module 5. Quizzes: lessons 1, 2, 3.",
        ),
        (lambda s: s.lab(9), rules.UnknownLab, "There is no lab 9 in Module 5. Labs: 1, 2."),
        (lambda s: s.lab(1, module=6), rules.UnknownLab, "Module 6 has no labs."),
    ],
)
def test_unknown_numbers_get_friendly_errors(service: CourseService, look_up, error, message: str) -> None:
    with pytest.raises(error) as caught:
        look_up(service)
    assert str(caught.value) == message
    assert isinstance(caught.value, CourseError)


async def test_a_module_without_a_test(service: CourseService) -> None:
    with pytest.raises(rules.NoTest, match="Module 6 has no test."):
        await service.start_test(learner(1), module=6)
    with pytest.raises(rules.NoTest):
        await service.test_state(learner(1), module=6)


# Lessons and quizzes


async def test_viewing_a_lesson_is_recorded(service: CourseService, db_path: Path) -> None:
    lesson = await service.view_lesson(learner(1), 2)
    assert lesson.number == 2
    with pytest.raises(rules.UnknownLesson):
        await service.view_lesson(learner(2), 9)
    assert rows(db_path, "lesson_views") == 1
    assert rows(db_path, "learners") == 1  # the bad request created nobody
    assert (await service.progress(learner(1))).lessons_viewed == frozenset({2})


async def test_first_quiz_answer_counts(service: CourseService, db_path: Path) -> None:
    question = service.quiz(1).questions[0]
    wrong = wrong_index(question)
    first = await service.answer_quiz(learner(1), 1, question.id, wrong, "e1")
    assert (first.chosen.index, first.correct, first.already_answered) == (wrong, False, False)

    again = await service.answer_quiz(learner(1), 1, question.id, question.correct_option.index, "e2")
    assert (again.chosen.index, again.correct, again.already_answered) == (wrong, False, True)

    right = await service.answer_quiz(learner(2), 1, question.id, question.correct_option.index, "e3")
    assert right.correct and right.chosen == question.correct_option
    assert await service.quiz_respondents(1) == 2
    assert await service.quiz_respondents(2) == 0
    assert rows(db_path, "quiz_answers") == 2


async def test_bad_quiz_input_changes_nothing(service: CourseService, db_path: Path) -> None:
    with pytest.raises(rules.UnknownQuestion, match="no longer in the lesson 1 quiz"):
        await service.answer_quiz(learner(1), 1, "gone", 0, "e1")
    with pytest.raises(rules.UnknownOption, match="Options: A, B, C."):
        await service.answer_quiz(learner(1), 1, "l1-q1", 3, "e2")
    with pytest.raises(rules.UnknownLesson):
        await service.answer_quiz(learner(1), 8, "l1-q1", 0, "e3")
    with pytest.raises(rules.UnknownLesson):
        await service.quiz_respondents(8)
    assert rows(db_path, "quiz_answers") == 0


# The module test


@pytest.mark.parametrize(
    ("right", "passed", "percent"), [(15, True, 100), (12, True, 80), (11, False, 73), (0, False, 0)]
)
async def test_grading_and_pass_mark(service: CourseService, right: int, passed: bool, percent: int) -> None:
    result = await take_test(service, learner(1), right)
    assert (result.score, result.total, result.passed, result.percent) == (right, 15, passed, percent)
    assert len(result.missed) == 15 - right
    assert all(not option.correct and option.index == wrong_index(q) for q, option in result.missed)
    assert len({q.id for q, _ in result.missed}) == 15 - right
    assert (result.best_percent, result.attempts) == (percent, 1)


@pytest.mark.parametrize(
    ("score", "total", "mark", "expected"),
    [(12, 15, 0.8, True), (11, 15, 0.8, False), (7, 10, 0.7, True), (6, 10, 0.7, False), (0, 0, 0.8, False)],
)
def test_pass_mark_is_exact(score: int, total: int, mark: float, expected: bool) -> None:
    assert passes(score, total, mark) is expected


async def test_questions_come_one_at_a_time_and_double_clicks_are_harmless(service: CourseService) -> None:
    me = learner(1)
    state = await service.start_test(me)
    assert isinstance(state, rules.TestState) and (state.position, state.total, state.pass_percent) == (1, 15, 80)
    first = state.next_question
    state = await service.answer_test(me, state.attempt.id, first.id, 0, "a1")
    assert isinstance(state, rules.TestState) and state.position == 2 and state.next_question.id != first.id

    again = await service.answer_test(me, state.attempt.id, first.id, 2, "a2")  # double click on the first
    assert isinstance(again, rules.TestState) and again.answers == state.answers and again.position == 2

    later = next(q.id for q in service.module().test.questions if q.id not in (first.id, state.next_question.id))
    with pytest.raises(rules.StaleTest, match="answer question 2 of 15 first"):
        await service.answer_test(me, state.attempt.id, later, 0, "a3")
    with pytest.raises(rules.UnknownOption):
        await service.answer_test(me, state.attempt.id, state.next_question.id, 9, "a4")
    with pytest.raises(rules.UnknownQuestion):
        await service.answer_test(me, state.attempt.id, "nope", 0, "a5")
    with pytest.raises(rules.StaleButton):
        await service.answer_test(me, 2**70, state.next_question.id, 0, "a6")
    assert (await service.test_state(me)).position == 2


async def test_each_attempt_has_its_own_stored_order_of_questions_and_options(service: CourseService) -> None:
    me = learner(1)
    content = {q.id: q for q in service.module().test.questions}
    first = await service.start_test(me)
    assert isinstance(first, rules.TestState)
    resumed = await service.start_test(me)
    assert isinstance(resumed, rules.TestState) and resumed.next_question == first.next_question  # same order
    shown = first.next_question
    assert [o.index for o in shown.options] == list(range(len(shown.options)))  # lettered A, B, C as shown
    assert sorted(o.label for o in shown.options) == sorted(o.label for o in content[shown.id].options)
    # the option shown as correct is recorded as the content's correct option, whatever its place
    step = await service.answer_test(me, first.attempt.id, shown.id, shown.correct_option.index, "c1")
    stored = (await service.store.attempt_answers(first.attempt.id))[shown.id]
    assert stored.correct and stored.option_index == content[shown.id].correct_option.index
    assert isinstance(step, rules.TestState)

    orders = set()
    for n in range(2, 6):  # other learners' attempts: 15! orders, so four of them are not all alike
        state = await service.start_test(learner(n))
        assert isinstance(state, rules.TestState)
        orders.add(state.next_question.id)
    orders.add(shown.id)
    assert len(orders) > 1


async def test_someone_elses_attempt_is_stale(service: CourseService, db_path: Path) -> None:
    ann, bob = learner(1), learner(2)
    state = await service.start_test(ann)
    with pytest.raises(rules.StaleTest, match="not yours"):
        await service.answer_test(bob, state.attempt.id, "t1", 0, "b1")
    with pytest.raises(rules.StaleTest, match="not yours"):
        await service.answer_test(ann, 12345, "t1", 0, "b2")
    assert rows(db_path, "test_answers") == 0
    assert rows(db_path, "learners") == 1  # refusing bob created no row for him


async def test_a_late_click_on_a_finished_attempt_shows_its_result_again(service: CourseService) -> None:
    ann = learner(1)
    state = await service.start_test(ann)
    result = await take_test(service, ann, 15)
    assert result.attempt.id == state.attempt.id  # start_test resumed the open attempt
    late = await service.answer_test(ann, state.attempt.id, "t15", 0, "a-late")
    assert late == result
    assert await service.test_state(ann) is None


async def test_finishing_is_idempotent(service: CourseService, db_path: Path) -> None:
    first = await take_test(service, learner(1), 12)
    last = first.missed[-1][0].id if first.missed else "t1"
    again, concurrent = await asyncio.gather(
        service.answer_test(learner(1), first.attempt.id, last, 0, "x1"),
        service.answer_test(learner(1), first.attempt.id, last, 0, "x2"),
    )
    assert again == first == concurrent
    assert rows(db_path, "test_attempts") == 1


async def test_retakes_keep_the_best_score(service: CourseService) -> None:
    me = learner(1)
    first = await take_test(service, me, 13, tag="1:")
    second = await take_test(service, me, 9, tag="2:")
    assert second.attempt.id != first.attempt.id
    assert (second.percent, second.passed, second.best_percent, second.attempts) == (60, False, 86, 2)
    progress = await service.progress(me)
    assert (progress.best_test_percent, progress.test_passed, progress.test_attempts) == (86, True, 2)


async def test_an_attempt_resumes_after_the_store_is_reopened(db_path: Path) -> None:
    content = make_course()
    store = SQLiteStore(db_path)
    await store.open()
    service = CourseService(content, store)
    state = await service.start_test(learner(1))
    for _ in range(5):
        question = state.next_question
        state = await service.answer_test(learner(1), state.attempt.id, question.id, 0, f"e-{question.id}")
    await store.close()

    reopened = SQLiteStore(db_path)
    await reopened.open()
    try:
        service = CourseService(content, reopened)
        resumed = await service.test_state(learner(1))
        assert resumed is not None
        assert (resumed.attempt.id, resumed.position, resumed.next_question) == (state.attempt.id, 6, state.next_question)
        assert (await service.start_test(learner(1))).attempt.id == state.attempt.id
    finally:
        await reopened.close()


# Labs


async def test_lab_progress_counts_answered_questions_across_threads(service: CourseService) -> None:
    me = learner(1)
    thread = await service.open_lab(me, 1, "discord", "thread-1")
    assert await service.lab_thread("discord", "thread-1") == thread
    assert await service.lab_thread("discord", "thread-x") is None
    with pytest.raises(rules.UnknownLab):
        await service.open_lab(me, 7, "discord", "thread-2")

    for n, status in enumerate(["complete", "failed", "partial", "stopped", "interrupted", "complete"]):
        await service.store.record_lab_turn(thread.id, f"m{n}", LabTurn(question="?", answer="!", status=status))
    progress = await service.lab_progress(thread)
    assert (progress.lab.number, progress.asked, progress.complete) == (1, 2, False)  # only complete answers

    second = await service.open_lab(me, 1, "discord", "thread-2")
    for n in range(3):
        await service.store.record_lab_turn(second.id, f"s{n}", LabTurn(question="?", answer="!", status="complete"))
    progress = await service.lab_progress(thread)
    assert (progress.answered, progress.asked, progress.complete) == (5, 3, True)  # shown count stops at 3
    other_lab = await service.open_lab(me, 2, "discord", "thread-3")
    assert (await service.lab_progress(other_lab)).asked == 0
    assert await service.existing_lab_thread(me, 1, "discord") == second
    assert await service.existing_lab_thread(learner(9), 1, "discord") is None

    labs = (await service.progress(me)).labs
    assert {n: (p.asked, p.complete) for n, p in labs.items()} == {1: (3, True), 2: (0, False)}


# Progress and statistics


async def test_progress_counts_first_quiz_answers(service: CourseService) -> None:
    me = learner(1)
    quiz = service.quiz(2)
    await service.answer_quiz(me, 2, quiz.questions[0].id, quiz.questions[0].correct_option.index, "e1")
    await service.answer_quiz(me, 2, quiz.questions[1].id, wrong_index(quiz.questions[1]), "e2")
    await service.answer_quiz(me, 2, quiz.questions[1].id, quiz.questions[1].correct_option.index, "e3")
    progress = await service.progress(me)
    assert progress.quiz_answered == {1: 0, 2: 2, 3: 0}
    assert progress.quiz_correct == {1: 0, 2: 1, 3: 0}
    assert (progress.best_test_percent, progress.test_passed, progress.test_attempts) == (None, False, 0)
    assert progress.lessons_viewed == frozenset()


async def test_stats_and_csv(service: CourseService) -> None:
    question = service.quiz(1).questions[0]  # l1-q1: option A is wrong, B is right
    for n, option in enumerate([1, 1, 0]):
        await service.answer_quiz(learner(n), 1, question.id, option, f"e{n}")
    await service.answer_quiz(learner(2), 1, question.id, 1, "e-reclick")  # not counted
    await take_test(service, learner(1), 15)

    stats = await service.stats()
    assert [(s.kind, s.scope, s.question.id) for s in stats][:4] == [
        ("quiz", 1, "l1-q1"), ("quiz", 1, "l1-q2"), ("quiz", 1, "l1-q3"), ("quiz", 2, "l2-q1"),
    ]
    assert len(stats) == 3 * 3 + 15
    first = stats[0]
    assert (first.answered, first.option_counts) == (3, (1, 2, 0))
    assert first.share_correct == pytest.approx(2 / 3)
    assert (stats[1].answered, stats[1].share_correct, stats[1].option_counts) == (0, 0.0, (0, 0, 0))
    assert [(s.answered, s.share_correct) for s in stats if s.kind == "test"] == [(1, 1.0)] * 15

    table = list(csv.reader(io.StringIO(service.stats_csv(stats))))
    assert table[0] == [
        "kind", "scope", "question_id", "question", "option", "label", "correct", "chosen", "answered", "share_correct",
    ]
    assert len(table) == 1 + sum(len(s.question.options) for s in stats)
    assert table[1:4] == [
        ["quiz", "1", "l1-q1", "Prompt for l1-q1?", letter, f"l1-q1 option {i}", correct, chosen, "3", "0.667"]
        for i, (letter, correct, chosen) in enumerate([("A", "no", "1"), ("B", "yes", "2"), ("C", "no", "0")])
    ]


async def test_a_finished_attempt_takes_no_new_answers_after_the_test_grows(service: CourseService) -> None:
    short = CourseService(make_course(make_module(test_questions=14)), service.store)
    step = await short.start_test(learner(1))
    while isinstance(step, rules.TestState):
        question = step.next_question
        step = await short.answer_test(learner(1), step.attempt.id, question.id, 0, f"e-{question.id}")
    with pytest.raises(rules.StaleTest, match="already finished"):
        await service.answer_test(learner(1), step.attempt.id, "t15", 0, "e-t15")


async def test_lab_learner_check_creates_nobody(service: CourseService) -> None:
    owner, stranger = learner(1), learner(2)
    thread = await service.open_lab(owner, 1, "discord", "thread-9")
    assert await service.is_lab_learner(thread, owner)
    assert not await service.is_lab_learner(thread, stranger)
    assert await service.store.find_learner(stranger) is None  # looking did not create a learner row


async def test_quiz_answers_are_the_first_answers_of_one_quiz(service: CourseService) -> None:
    me = learner(1)
    first, second = service.quiz(1).questions[:2]
    await service.answer_quiz(me, 1, first.id, wrong_index(first), "q1")
    await service.answer_quiz(me, 1, first.id, first.correct_option.index, "q2")
    other = service.quiz(2).questions[0]
    await service.answer_quiz(me, 2, other.id, other.correct_option.index, "q3")
    answers = await service.quiz_answers(me, 1)
    assert set(answers) == {first.id} and not answers[first.id].correct
    assert second.id not in answers
