"""The course rules every adapter calls: lessons, quizzes, the module test, labs, progress, statistics.

Adapters (Discord, Slack, console) translate a platform event into one call here and
render what comes back; they hold no course logic. Domain errors are ``CourseError``
subclasses whose message is fit to show a learner.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from bot.core.content.model import Course, Lab, Lesson, Module, ModuleTest, Option, Question, Quiz
from bot.core.store.base import Attempt, LabThread, LabTurn, LearnerRef, OptionCount, Store, StoredAnswer


class CourseError(Exception):
    """A friendly, learner-facing error: bad input that changed nothing."""


class UnknownModule(CourseError):
    pass


class UnknownLesson(CourseError):
    pass


class UnknownLab(CourseError):
    pass


class UnknownQuestion(CourseError):
    pass


class NoTest(CourseError):
    pass


class StaleTest(CourseError):
    """A test button that does not apply: someone else's attempt, or a question out of turn."""


class IncompleteTest(CourseError):
    """Finishing a test attempt before every question is answered."""


class UnknownOption(UnknownQuestion):
    """An option index the question does not have."""


@dataclass(frozen=True, slots=True)
class QuizOutcome:
    """What a learner sees after pressing an option button."""

    question: Question
    chosen: Option  # the option that counts (the first one chosen)
    correct: bool
    already_answered: bool  # True when this press repeated an earlier answer


@dataclass(frozen=True, slots=True)
class TestState:
    """Where a learner is in a module-test attempt."""

    attempt: Attempt
    module: Module
    answers: dict[str, StoredAnswer]
    next_question: Question | None  # None once every question is answered
    position: int  # 1-based number of next_question (or total + 1 when done)
    total: int

    @property
    def finished(self) -> bool:
        return self.next_question is None


@dataclass(frozen=True, slots=True)
class TestResult:
    attempt: Attempt
    score: int
    total: int
    passed: bool
    percent: int
    missed: tuple[tuple[Question, Option], ...]  # each missed question with the option chosen
    best_percent: int
    attempts: int  # finished attempts, this one included


@dataclass(frozen=True, slots=True)
class LabProgress:
    lab: Lab
    asked: int
    complete: bool


@dataclass(frozen=True, slots=True)
class ModuleProgress:
    module: Module
    lessons_viewed: frozenset[int]
    quiz_correct: dict[int, int]  # lesson -> questions answered correctly (first answers)
    quiz_answered: dict[int, int]  # lesson -> questions answered
    labs: dict[int, LabProgress]
    best_test_percent: int | None
    test_passed: bool
    test_attempts: int  # finished attempts


@dataclass(frozen=True, slots=True)
class QuestionStats:
    kind: str  # "quiz" | "test"
    scope: int  # lesson number, or 0 for the test
    question: Question
    answered: int
    share_correct: float  # 0..1, 0 when nobody answered
    option_counts: tuple[int, ...]  # per option index


def _numbers(numbers: Iterable[int]) -> str:
    return ", ".join(str(number) for number in numbers)


def _percent(score: int, total: int) -> int:
    """Whole percent, rounded down so that a failing score never shows the pass mark."""
    return score * 100 // total if total else 0


def passes(score: int, total: int, pass_mark: float) -> bool:
    """Whether ``score`` out of ``total`` reaches ``pass_mark`` (exact: 12/15 reaches 0.8)."""
    return total > 0 and Fraction(score, total) >= Fraction(str(pass_mark))


def _find_question(source: Quiz | ModuleTest, question_id: str, where: str) -> Question:
    try:
        return source.question(question_id)
    except KeyError:
        raise UnknownQuestion(
            f"That question is no longer in {where} (the course may have been updated). Open it again."
        ) from None


def _option(question: Question, index: int) -> Option:
    try:
        return question.option(index)
    except IndexError:
        letters = ", ".join(option.letter for option in question.options)
        raise UnknownOption(f"That option is not part of this question. Options: {letters}.") from None


class CourseService:
    """The course rules over the content (``content``) and the learners' history (``store``).

    ``module`` arguments default to the course's ``default_module``. Test buttons are forgiving
    where that is safe: answering a question that the attempt already answered (a double click,
    a redelivered event, an old message of a finished attempt) returns the attempt's unchanged
    state; a button of someone else's attempt, or for a question out of turn, raises ``StaleTest``.
    """

    def __init__(self, content: Course, store: Store) -> None:
        self.content = content
        self.store = store

    # Content look-ups

    def module(self, number: int | None = None) -> Module:
        number = self.content.default_module if number is None else number
        found = self.content.modules.get(number)
        if found is None:
            raise UnknownModule(f"There is no Module {number}. Modules: {_numbers(self.content.module_numbers)}.")
        return found

    def lesson(self, number: int, module: int | None = None) -> Lesson:
        found = self.module(module)
        if number not in found.lessons:
            raise UnknownLesson(
                f"There is no lesson {number} in Module {found.number}. Lessons: {_numbers(found.lesson_numbers)}."
            )
        return found.lessons[number]

    def quiz(self, lesson: int, module: int | None = None) -> Quiz:
        found = self.module(module)
        if lesson not in found.quizzes:
            raise UnknownLesson(
                f"There is no quiz for lesson {lesson} in Module {found.number}."
                f" Quizzes: lessons {_numbers(sorted(found.quizzes))}."
            )
        return found.quizzes[lesson]

    def lab(self, number: int, module: int | None = None) -> Lab:
        found = self.module(module)
        if not found.labs:
            raise UnknownLab(f"Module {found.number} has no labs.")
        if number not in found.labs:
            raise UnknownLab(f"There is no lab {number} in Module {found.number}. Labs: {_numbers(found.lab_numbers)}.")
        return found.labs[number]

    @staticmethod
    def _test(module: Module) -> ModuleTest:
        if module.test is None:
            raise NoTest(f"Module {module.number} has no test.")
        return module.test

    # Lessons and quizzes

    async def view_lesson(self, learner: LearnerRef, number: int, module: int | None = None) -> Lesson:
        found = self.module(module)
        lesson = self.lesson(number, found.number)
        learner_id = await self.store.learner_id(learner)
        await self.store.record_lesson_view(learner_id, found.number, lesson.number)
        return lesson

    async def answer_quiz(
        self, learner: LearnerRef, lesson: int, question_id: str, option_index: int, event_id: str,
        module: int | None = None,
    ) -> QuizOutcome:
        """Record the learner's answer; the first answer to a question is the one that counts."""
        found = self.module(module)
        quiz = self.quiz(lesson, found.number)
        question = _find_question(quiz, question_id, f"the lesson {lesson} quiz")
        option = _option(question, option_index)
        learner_id = await self.store.learner_id(learner)
        stored = await self.store.record_quiz_answer(
            learner_id, found.number, lesson, question.id, option.index, option.correct, event_id
        )
        chosen = _option(question, stored.option_index)
        return QuizOutcome(question=question, chosen=chosen, correct=stored.correct, already_answered=not stored.new)

    async def quiz_answers(self, learner: LearnerRef, lesson: int, module: int | None = None) -> dict[str, StoredAnswer]:
        """The learner's first answers to one quiz, by question id."""
        found = self.module(module)
        self.quiz(lesson, found.number)
        learner_id = await self.store.learner_id(learner)
        answers = await self.store.quiz_answers(learner_id, found.number)
        return {question_id: answer for (number, question_id), answer in answers.items() if number == lesson}

    async def quiz_respondents(self, lesson: int, module: int | None = None) -> int:
        found = self.module(module)
        self.quiz(lesson, found.number)
        return await self.store.quiz_respondents(found.number, lesson)

    # The module test

    async def _state(self, module: Module, attempt: Attempt) -> TestState:
        questions = self._test(module).questions
        answers = await self.store.attempt_answers(attempt.id)
        position, next_question = next(
            ((number, q) for number, q in enumerate(questions, start=1) if q.id not in answers),
            (len(questions) + 1, None),
        )
        return TestState(
            attempt=attempt, module=module, answers=answers,
            next_question=next_question, position=position, total=len(questions),
        )

    async def test_state(self, learner: LearnerRef, module: int | None = None) -> TestState | None:
        """The learner's unfinished attempt, or None when there is none."""
        found = self.module(module)
        self._test(found)
        attempt = await self.store.open_attempt(await self.store.learner_id(learner), found.number)
        return None if attempt is None else await self._state(found, attempt)

    async def start_test(self, learner: LearnerRef, module: int | None = None) -> TestState:
        """A new attempt, or the unfinished one resumed where the learner left it."""
        found = self.module(module)
        self._test(found)
        attempt = await self.store.start_attempt(await self.store.learner_id(learner), found.number)
        return await self._state(found, attempt)

    async def _own_attempt(self, learner: LearnerRef, attempt_id: int) -> tuple[int, Attempt]:
        learner_id = await self.store.learner_id(learner)
        attempt = await self.store.attempt(attempt_id)
        if attempt is None or attempt.learner_id != learner_id:
            raise StaleTest("That test attempt is not yours. Start your own test to answer questions.")
        return learner_id, attempt

    async def answer_test(
        self, learner: LearnerRef, attempt_id: int, question_id: str, option_index: int, event_id: str,
    ) -> TestState:
        """Record the answer to the attempt's next question and return the new state.

        A question this attempt already answered returns the state unchanged, also once the
        attempt is finished: a double click on the last question then leads to ``finish_test``,
        which returns the same result again.
        """
        _, attempt = await self._own_attempt(learner, attempt_id)
        found = self.module(attempt.module)
        question = _find_question(self._test(found), question_id, f"the Module {found.number} test")
        option = _option(question, option_index)
        state = await self._state(found, attempt)
        if question.id in state.answers:
            return state
        if attempt.finished_at is not None:  # only when the test gained questions since it was taken
            raise StaleTest("That test attempt is already finished. Start a new attempt to try again.")
        if state.next_question is None or state.next_question.id != question.id:
            raise StaleTest(f"Please answer question {state.position} of {state.total} first.")
        await self.store.record_test_answer(attempt.id, question.id, option.index, option.correct, event_id)
        return await self._state(found, attempt)

    async def finish_test(self, learner: LearnerRef, attempt_id: int) -> TestResult:
        """Grade the attempt once every question is answered; a finished attempt returns its result again."""
        learner_id, attempt = await self._own_attempt(learner, attempt_id)
        found = self.module(attempt.module)
        test = self._test(found)
        answers = await self.store.attempt_answers(attempt.id)
        if attempt.finished_at is None:
            unanswered = sum(1 for question in test.questions if question.id not in answers)
            if unanswered:
                raise IncompleteTest(f"Answer all {len(test.questions)} questions first: {unanswered} to go.")
            score = sum(1 for question in test.questions if answers[question.id].correct)
            total = len(test.questions)
            attempt = await self.store.finish_attempt(attempt.id, score, total, passes(score, total, test.pass_mark))
        score, total = attempt.score or 0, attempt.total or 0
        missed = tuple(
            (question, _option(question, answers[question.id].option_index))
            for question in test.questions
            if question.id in answers and not answers[question.id].correct
        )
        finished = [a for a in await self.store.attempts(learner_id, found.number) if a.finished_at is not None]
        return TestResult(
            attempt=attempt,
            score=score,
            total=total,
            passed=bool(attempt.passed),
            percent=_percent(score, total),
            missed=missed,
            best_percent=max(_percent(a.score or 0, a.total or 0) for a in finished),
            attempts=len(finished),
        )

    # Labs

    async def open_lab(
        self, learner: LearnerRef, lab: int, platform: str, thread_key: str, module: int | None = None,
    ) -> LabThread:
        """Record the thread a lab runs in (an existing thread for the same key is returned)."""
        found = self.module(module)
        chosen = self.lab(lab, found.number)
        learner_id = await self.store.learner_id(learner)
        return await self.store.create_lab_thread(learner_id, found.number, chosen.number, platform, thread_key)

    async def lab_thread(self, platform: str, thread_key: str) -> LabThread | None:
        return await self.store.lab_thread(platform, thread_key)

    async def is_lab_learner(self, thread: LabThread, learner: LearnerRef) -> bool:
        """Whether ``learner`` is the one the lab thread was opened for (looks up without creating anyone)."""
        return await self.store.find_learner(learner) == thread.learner_id

    async def _lab_progress(self, lab: Lab, threads: Iterable[LabThread]) -> LabProgress:
        asked = 0
        for thread in threads:
            asked += sum(1 for turn in await self.store.lab_turns(thread.id) if _answered(turn))
        return LabProgress(lab=lab, asked=asked, complete=asked >= lab.questions_to_complete)

    async def lab_progress(self, thread: LabThread) -> LabProgress:
        """Questions answered (with some answer text) in every thread the learner opened for this lab."""
        lab = self.lab(thread.lab, thread.module)
        threads = await self.store.lab_threads(thread.learner_id, thread.module)
        return await self._lab_progress(lab, (t for t in threads if t.lab == lab.number))

    # Progress and statistics

    async def progress(self, learner: LearnerRef, module: int | None = None) -> ModuleProgress:
        found = self.module(module)
        learner_id = await self.store.learner_id(learner)
        viewed = await self.store.lessons_viewed(learner_id, found.number)
        answers = await self.store.quiz_answers(learner_id, found.number)
        quiz_answered: dict[int, int] = {}
        quiz_correct: dict[int, int] = {}
        for lesson, quiz in sorted(found.quizzes.items()):
            mine = [answers[lesson, q.id] for q in quiz.questions if (lesson, q.id) in answers]
            quiz_answered[lesson] = len(mine)
            quiz_correct[lesson] = sum(1 for answer in mine if answer.correct)
        threads = await self.store.lab_threads(learner_id, found.number)
        labs = {
            number: await self._lab_progress(lab, (t for t in threads if t.lab == number))
            for number, lab in sorted(found.labs.items())
        }
        finished = [a for a in await self.store.attempts(learner_id, found.number) if a.finished_at is not None]
        return ModuleProgress(
            module=found,
            lessons_viewed=frozenset(viewed),
            quiz_correct=quiz_correct,
            quiz_answered=quiz_answered,
            labs=labs,
            best_test_percent=max((_percent(a.score or 0, a.total or 0) for a in finished), default=None),
            test_passed=any(a.passed for a in finished),
            test_attempts=len(finished),
        )

    async def stats(self, module: int | None = None) -> list[QuestionStats]:
        """Per question (quizzes in lesson order, then the test), first answers per option."""
        found = self.module(module)
        counts: dict[tuple[str, int, str], list[OptionCount]] = {}
        for row in await self.store.option_counts(found.number):
            counts.setdefault((row.kind, row.scope, row.question_id), []).append(row)
        asked = [("quiz", lesson, q) for lesson, quiz in sorted(found.quizzes.items()) for q in quiz.questions]
        if found.test is not None:
            asked += [("test", 0, q) for q in found.test.questions]
        return [_question_stats(kind, scope, q, counts.get((kind, scope, q.id), [])) for kind, scope, q in asked]

    def stats_csv(self, stats: list[QuestionStats]) -> str:
        """The statistics as CSV: one row per question and option."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["kind", "scope", "question_id", "question", "option", "label", "correct", "chosen", "answered",
             "share_correct"]
        )
        for entry in stats:
            for option, chosen in zip(entry.question.options, entry.option_counts, strict=True):
                writer.writerow([
                    entry.kind, entry.scope, entry.question.id, entry.question.prompt, option.letter, option.label,
                    "yes" if option.correct else "no", chosen, entry.answered, f"{entry.share_correct:.3f}",
                ])
        return out.getvalue()


def _answered(turn: LabTurn) -> bool:
    """A question counts towards a lab once some answer reached the learner (not failed, not stopped at once)."""
    return turn.status != "failed" and bool(turn.answer)


def _question_stats(kind: str, scope: int, question: Question, rows: Iterable[OptionCount]) -> QuestionStats:
    """Counts for the options the question has now (answers to options since removed are left out)."""
    per_option = [0] * len(question.options)
    correct = 0
    for row in rows:
        if row.option_index < len(per_option):
            per_option[row.option_index] += row.count
            correct += row.count if row.correct else 0
    answered = sum(per_option)
    return QuestionStats(
        kind=kind,
        scope=scope,
        question=question,
        answered=answered,
        share_correct=correct / answered if answered else 0.0,
        option_counts=tuple(per_option),
    )
