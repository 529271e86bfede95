"""The course rules every adapter calls: lessons, quizzes, the module test, labs, progress, statistics.

Adapters (Discord, Slack, console) translate a platform event into one call here and
render what comes back; they hold no course logic. Domain errors are ``CourseError``
subclasses whose message is fit to show a learner.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from bot.core import messages
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


class UnknownOption(UnknownQuestion):
    """An option index the question does not have."""


class StaleButton(CourseError):
    """A button whose value does not parse or is out of range (forged, or from an older version)."""


MAX_ID = 2**63 - 1  # row ids and indexes from buttons must fit the database's integers


def button_number(text: object, *, most: int = MAX_ID) -> int:
    """A whole number taken from a button value or custom_id, range-checked; ``StaleButton`` otherwise."""
    value = str(text)
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > most:
        raise StaleButton(messages.STALE_BUTTON)
    return int(value)


@dataclass(frozen=True, slots=True)
class QuizOutcome:
    """What a learner sees after pressing an option button."""

    question: Question
    chosen: Option  # the option that counts (the first one chosen)
    correct: bool
    already_answered: bool  # True when this press repeated an earlier answer


@dataclass(frozen=True, slots=True)
class TestState:
    """The next question of an unfinished module-test attempt.

    ``next_question`` is as the learner sees it: its options in this attempt's order, lettered A, B, C in
    that order (``Option.index`` is the position shown; ``answer_test`` takes that position back).
    """

    attempt: Attempt
    module: Module
    answers: dict[str, StoredAnswer]
    next_question: Question
    position: int  # 1-based number of next_question
    total: int
    pass_percent: int

    @property
    def resumed(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class TestResult:
    attempt: Attempt
    module: Module
    score: int
    total: int
    passed: bool
    percent: int
    pass_percent: int
    missed: tuple[tuple[Question, Option], ...]  # each missed question (as shown) with the option chosen
    best_percent: int
    attempts: int  # finished attempts, this one included


TestStep = TestState | TestResult
"""What a test call returns: the next question, or the result once the last one is answered."""


@dataclass(frozen=True, slots=True)
class LabProgress:
    """Questions answered completely in a lab (every thread of the learner's), counted up to the target."""

    lab: Lab
    answered: int  # the real count (may exceed the target)

    @property
    def asked(self) -> int:
        """The count shown to the learner: never past the target."""
        return min(self.answered, self.lab.questions_to_complete)

    @property
    def complete(self) -> bool:
        return self.answered >= self.lab.questions_to_complete


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
        stored = await self.store.record_quiz_answer_by(
            learner, found.number, lesson, question.id, option.index, option.correct, event_id
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

    def _order(self, test: ModuleTest, attempt: Attempt) -> list[Question]:
        """The attempt's questions in the order it shows them (seed 0: the content's order)."""
        questions = list(test.questions)
        if attempt.seed:
            random.Random(attempt.seed).shuffle(questions)
        return questions

    @staticmethod
    def _permutation(question: Question, attempt: Attempt) -> list[int]:
        """Content option indexes in the order the attempt shows them."""
        order = list(range(len(question.options)))
        if attempt.seed:
            random.Random(f"{attempt.seed}:{question.id}").shuffle(order)
        return order

    def _presented(self, question: Question, attempt: Attempt) -> Question:
        options = tuple(
            dataclasses.replace(question.options[content], index=shown)
            for shown, content in enumerate(self._permutation(question, attempt))
        )
        return dataclasses.replace(question, options=options)

    async def _step(self, module: Module, attempt: Attempt) -> TestStep:
        """The next question, or (grading the attempt once every question is answered) the result."""
        test = self._test(module)
        answers = await self.store.attempt_answers(attempt.id)
        if attempt.finished_at is not None:  # graded: its result stands, even if the test gained questions
            return await self._result(module, attempt, answers)
        questions = self._order(test, attempt)
        for position, question in enumerate(questions, start=1):
            if question.id not in answers:
                return TestState(
                    attempt=attempt, module=module, answers=answers, next_question=self._presented(question, attempt),
                    position=position, total=len(questions), pass_percent=_pass_percent(test),
                )
        return await self._result(module, attempt, answers)

    async def test_state(self, learner: LearnerRef, module: int | None = None) -> TestState | None:
        """The learner's unfinished attempt, or None when there is none (creates no one)."""
        found = self.module(module)
        self._test(found)
        learner_id = await self.store.find_learner(learner)
        attempt = None if learner_id is None else await self.store.open_attempt(learner_id, found.number)
        if attempt is None:
            return None
        step = await self._step(found, attempt)
        return step if isinstance(step, TestState) else None

    async def start_test(self, learner: LearnerRef, module: int | None = None) -> TestStep:
        """A new attempt (its own order of questions and options), or the unfinished one resumed.

        An attempt whose every question was answered before a restart interrupted its grading is graded.
        """
        found = self.module(module)
        self._test(found)
        seed = secrets.randbelow(2**31 - 1) + 1
        attempt = await self.store.start_attempt(await self.store.learner_id(learner), found.number, seed)
        return await self._step(found, attempt)

    async def _own_attempt(self, learner: LearnerRef, attempt_id: int) -> Attempt:
        button_number(attempt_id)
        learner_id = await self.store.find_learner(learner)  # a refusal creates no one
        attempt = await self.store.attempt(attempt_id) if learner_id is not None else None
        if attempt is None or attempt.learner_id != learner_id:
            raise StaleTest("That test attempt is not yours. Start your own test to answer questions.")
        return attempt

    async def answer_test(
        self, learner: LearnerRef, attempt_id: int, question_id: str, shown_option: int, event_id: str,
    ) -> TestStep:
        """Record the answer (``shown_option``: the position the option was shown at) and return what is next.

        A question this attempt already answered returns the step unchanged, also once the attempt is
        finished (a double click on the last question shows the same result again).
        """
        attempt = await self._own_attempt(learner, attempt_id)
        found = self.module(attempt.module)
        question = _find_question(self._test(found), question_id, f"the Module {found.number} test")
        option = _option(self._presented(question, attempt), shown_option)
        step = await self._step(found, attempt)
        answers = step.answers if isinstance(step, TestState) else await self.store.attempt_answers(attempt.id)
        if question.id in answers:
            return step
        if isinstance(step, TestResult):  # only when the test gained questions since it was taken
            raise StaleTest("That test attempt is already finished. Start a new attempt to try again.")
        if step.next_question.id != question.id:
            raise StaleTest(f"Please answer question {step.position} of {step.total} first.")
        content_index = self._permutation(question, attempt)[option.index]
        await self.store.record_test_answer(attempt.id, question.id, content_index, option.correct, event_id)
        return await self._step(found, attempt)

    async def _result(self, module: Module, attempt: Attempt, answers: dict[str, StoredAnswer]) -> TestResult:
        """Grade the attempt (once) and describe its result."""
        test = self._test(module)
        if attempt.finished_at is None:
            score = sum(1 for question in test.questions if answers[question.id].correct)
            total = len(test.questions)
            attempt = await self.store.finish_attempt(attempt.id, score, total, passes(score, total, test.pass_mark))
        score, total = attempt.score or 0, attempt.total or 0
        missed = []
        for question in self._order(test, attempt):
            if question.id in answers and not answers[question.id].correct:
                shown = self._permutation(question, attempt).index(answers[question.id].option_index)
                missed.append((self._presented(question, attempt), _option(self._presented(question, attempt), shown)))
        attempts = await self.store.attempts(attempt.learner_id, module.number)
        finished = [a for a in attempts if a.finished_at is not None]
        return TestResult(
            attempt=attempt,
            module=module,
            score=score,
            total=total,
            passed=bool(attempt.passed),
            percent=_percent(score, total),
            pass_percent=_pass_percent(test),
            missed=tuple(missed),
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

    async def existing_lab_thread(
        self, learner: LearnerRef, lab: int, platform: str, module: int | None = None,
    ) -> LabThread | None:
        """The learner's newest thread for this lab on ``platform``, so ``/lab`` can point back to it."""
        found = self.module(module)
        chosen = self.lab(lab, found.number)
        learner_id = await self.store.find_learner(learner)
        if learner_id is None:
            return None
        return await self.store.latest_lab_thread(learner_id, found.number, chosen.number, platform)

    async def lab_history(self, thread: LabThread) -> list[LabTurn]:
        """The thread's earlier turns, oldest first."""
        return await self.store.lab_turns(thread.id)

    async def _lab_progress(self, lab: Lab, learner_id: int, module: int) -> LabProgress:
        return LabProgress(lab=lab, answered=await self.store.answered_turns(learner_id, module, lab.number))

    async def lab_progress(self, thread: LabThread) -> LabProgress:
        """Questions answered completely in every thread the learner opened for this lab."""
        lab = self.lab(thread.lab, thread.module)
        return await self._lab_progress(lab, thread.learner_id, thread.module)

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
        labs = {
            number: await self._lab_progress(lab, learner_id, found.number) for number, lab in sorted(found.labs.items())
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


def _pass_percent(test: ModuleTest) -> int:
    return round(test.pass_mark * 100)


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
