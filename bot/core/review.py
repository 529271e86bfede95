"""Spaced review: the questions a learner missed, or answered slowly, come back when FSRS says they are due.

Every answer a learner gives becomes an FSRS rating: a wrong answer (a quiz's first answer, any test answer,
a /review answer) is *Again*; a right test answer given slowly is *Hard*; any other right answer is *Good*.
Only *Again* and *Hard* put a question into the learner's review; once it is there, every later answer to it
(a retaken test, a /review answer) moves its card. The cards are built from the stored answers whenever the
review is read (:meth:`ReviewService.status`, :meth:`ReviewService.next_item`), so the quiz and test flows
need not know about review at all.

"Slowly": the store records when each answer was given, not when a quiz question was shown (a quiz shows all
its questions at once), so quiz answers carry no timing and only missed quiz questions enter the review. The
module test shows one question at a time, the next as soon as the previous one is answered, so the time from
the previous answer (the first question: from the attempt's start) is how long the learner took. Between
``SLOW_AFTER`` and ``AWAY_AFTER`` is slow; longer means the learner left and came back, which says nothing.

The schedule itself is FSRS (``fsrs.Scheduler`` with its default parameters: learning steps of 1 and 10
minutes, then intervals in days for 90% retention); this module only feeds it ratings and stores its cards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from fsrs import Card, Rating, Scheduler

from bot.core.content.model import Question
from bot.core.course import CourseError, CourseService, QuizOutcome, UnknownOption
from bot.core.store.base import LearnerRef, ReviewAnswer, ReviewCard, ReviewKind

SLOW_AFTER = timedelta(seconds=60)
AWAY_AFTER = timedelta(minutes=30)
REMINDER_EVERY = timedelta(days=1)
REMINDER_CHECK_SECONDS = 300.0  # how often the adapters look for learners to remind
SWITCH_USAGE = "/review, or /review remind on, or /review remind off"

Clock = Callable[[], datetime]
Key = tuple[int, ReviewKind, int, str]  # module, kind, scope (lesson or 0), question id


def utc_now() -> datetime:
    return datetime.now(UTC)


class StaleReview(CourseError):
    """A review button that no longer applies: someone else's, or a question answered since it was shown."""


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A due question, as the learner sees it; its buttons carry ``card.id`` and ``card.reviews``."""

    card: ReviewCard
    question: Question
    source: str  # where it comes from: "Lesson 2 quiz", "Module 5 test"
    due_count: int  # items due now, this one included


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """After a review answer: the same feedback as the quiz, when the question comes back, and what is next."""

    item: ReviewItem
    outcome: QuizOutcome
    next_due: datetime  # when this question is due again
    next: ReviewItem | None


@dataclass(frozen=True, slots=True)
class ReviewStatus:
    due: int  # items due now
    total: int  # items in the review
    next_due: datetime | None  # the earliest due time (in the past when items are due)
    reminders: bool


@dataclass(frozen=True, slots=True)
class Reminder:
    """A learner to remind (already marked as reminded: send it once)."""

    learner: LearnerRef
    due: int


@dataclass(frozen=True, slots=True)
class _Answered:
    at: datetime
    key: Key
    rating: Rating


def button_value(card: ReviewCard, option: int) -> str:
    """What an option button of a review item carries: the card, the answers it had when shown, the option."""
    return f"{card.id}:{card.reviews}:{option}"


def parse_button(value: str) -> tuple[int, int, int]:
    """``button_value`` read back; ``StaleReview`` for anything else (forged, or from another version)."""
    parts = value.split(":")
    if len(parts) != 3 or not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        raise StaleReview("That review button is out of date. Type /review for your next question.")
    card_id, reviews, option = (int(part) for part in parts)
    return card_id, reviews, option


def reminder_switch(words: str) -> bool | None:
    """``""`` -> None (review now), ``"remind on"`` -> True, ``"remind off"`` -> False; else a usage error."""
    match words.lower().split():
        case []:
            return None
        case ["remind", "on"]:
            return True
        case ["remind", "off"]:
            return False
    raise CourseError(f"Usage: {SWITCH_USAGE}.")


def when_text(moment: datetime, now: datetime) -> str:
    """``moment`` (in the future) as "in 10 minutes", "in 3 hours", "in 2 days", each rounded to its unit."""
    seconds = max(0.0, (moment - now).total_seconds())
    minutes = round(seconds / 60)
    if minutes < 1:
        return "in under a minute"
    if minutes < 60:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(seconds / 3600)
    if hours < 24:
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    days = round(seconds / 86400)
    return f"in {days} day{'s' if days != 1 else ''}"


def status_text(status: ReviewStatus, now: datetime) -> str:
    """One plain sentence for /progress and the review's end: what is due, or when the next item is."""
    if status.due:
        return f"{status.due} question{'s' if status.due != 1 else ''} to review now."
    if status.next_due is not None:
        return f"Nothing to review now; the next question comes back {when_text(status.next_due, now)}."
    return "Nothing to review yet: questions you miss in quizzes and the test come back here."


class ReviewService:
    """Scheduling and serving review items for ``course``'s learners (see the module docstring)."""

    def __init__(self, course: CourseService, *, scheduler: Scheduler | None = None, clock: Clock | None = None):
        self.course = course
        self.store = course.store
        self.scheduler = scheduler or Scheduler()
        self.clock = clock or utc_now

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # Reading the review

    async def status(self, learner: LearnerRef) -> ReviewStatus:
        """How many items are due, how many there are, and whether reminders are on (creates nobody)."""
        learner_id = await self.store.find_learner(learner)
        if learner_id is None:
            return ReviewStatus(due=0, total=0, next_due=None, reminders=False)
        cards = await self._cards(learner_id)
        now = self.now()
        return ReviewStatus(
            due=sum(card.due <= now for card, _ in cards),
            total=len(cards),
            next_due=min((card.due for card, _ in cards), default=None),
            reminders=await self.store.review_reminders(learner_id),
        )

    async def next_item(self, learner: LearnerRef) -> ReviewItem | None:
        """The most overdue item, or None when nothing is due."""
        learner_id = await self.store.find_learner(learner)
        return None if learner_id is None else await self._next(learner_id)

    async def _next(self, learner_id: int) -> ReviewItem | None:
        now = self.now()
        due = sorted(((card, question) for card, question in await self._cards(learner_id) if card.due <= now),
                     key=lambda pair: pair[0].due)
        if not due:
            return None
        card, question = due[0]
        return ReviewItem(card=card, question=question, source=self._source(card), due_count=len(due))

    def _source(self, card: ReviewCard) -> str:
        if card.kind == "quiz":
            return f"Lesson {card.scope} quiz"
        return f"Module {card.module} test"

    def _question(self, card: ReviewCard) -> Question | None:
        """The card's question as the content has it now; None when the course no longer asks it."""
        module = self.course.content.modules.get(card.module)
        if module is None:
            return None
        source = module.quizzes.get(card.scope) if card.kind == "quiz" else module.test
        if source is None:
            return None
        return next((question for question in source.questions if question.id == card.question_id), None)

    async def _cards(self, learner_id: int) -> list[tuple[ReviewCard, Question]]:
        """The learner's cards, brought up to date with their answers, whose questions the course still asks."""
        pairs = [(card, self._question(card)) for card in await self._sync(learner_id)]
        return [(card, question) for card, question in pairs if question is not None]

    # Answering

    async def answer(
        self, learner: LearnerRef, button: str, event_id: str,
    ) -> ReviewOutcome:
        """Record a review answer (``button``: the pressed button's ``button_value``) and return the feedback.

        A wrong answer rates the card *Again*, a right one *Good*.
        The same event again returns the same outcome (``already_answered``); a button of an item answered
        since it was shown, or of someone else's review, raises ``StaleReview`` and changes nothing.
        """
        card_id, reviews, option_index = parse_button(button)
        learner_id = await self.store.find_learner(learner)
        card = await self.store.review_card(card_id) if learner_id is not None else None
        if card is None or card.learner_id != learner_id:
            raise StaleReview("That review question is not yours. Type /review to see your own.")
        question = self._question(card)
        if question is None:
            raise StaleReview("That question is no longer in the course. Type /review for the next one.")
        item = ReviewItem(card=card, question=question, source=self._source(card), due_count=0)
        recorded = await self.store.review_answer(event_id)
        if recorded is None:
            try:
                chosen = question.option(option_index)
            except IndexError:
                letters = ", ".join(option.letter for option in question.options)
                raise UnknownOption(f"That option is not part of this question. Options: {letters}.") from None
            if card.reviews != reviews:
                raise StaleReview("You already answered that review question. Type /review for the next one.")
            now = self.now()
            rating = Rating.Good if chosen.correct else Rating.Again
            moved, _ = self.scheduler.review_card(Card.from_json(card.card), rating, review_datetime=now)
            answer = ReviewAnswer(
                card_id=card.id, event_id=event_id, option_index=chosen.index, correct=chosen.correct,
                rating=rating.name.lower(), answered_at=now, due=moved.due,
            )
            if not await self.store.update_review_card(card.id, reviews, moved.to_json(), moved.due, now, answer):
                raise StaleReview("You already answered that review question. Type /review for the next one.")
            outcome = QuizOutcome(question=question, chosen=chosen, correct=chosen.correct, already_answered=False)
            return ReviewOutcome(item=item, outcome=outcome, next_due=moved.due, next=await self._next(card.learner_id))
        if recorded.card_id != card.id:
            raise StaleReview("That review question is not yours. Type /review to see your own.")
        chosen = question.option(recorded.option_index)
        outcome = QuizOutcome(question=question, chosen=chosen, correct=recorded.correct, already_answered=True)
        return ReviewOutcome(item=item, outcome=outcome, next_due=recorded.due, next=await self._next(card.learner_id))

    # Reminders

    async def set_reminders(self, learner: LearnerRef, on: bool) -> None:
        await self.store.set_review_reminders(await self.store.learner_id(learner), on, self.now())

    async def due_reminders(self, platform: str) -> list[Reminder]:
        """Learners on ``platform`` to remind now: reminders on, items due, none reminded in the last day.

        Each one returned is already marked as reminded (in the store, so across processes): send it once.
        """
        now = self.now()
        before = now - REMINDER_EVERY
        reminders = []
        for learner_id, learner in await self.store.reminder_candidates(platform, before):
            due = sum(card.due <= now for card, _ in await self._cards(learner_id))
            if due and await self.store.claim_reminder(learner_id, now, before):
                reminders.append(Reminder(learner=learner, due=due))
        return reminders

    # Building cards from answers

    async def _sync(self, learner_id: int) -> list[ReviewCard]:
        """Apply every answer newer than its card (or that starts a card) to the learner's cards, oldest first."""
        cards: dict[Key, ReviewCard] = {
            (card.module, card.kind, card.scope, card.question_id): card
            for card in await self.store.review_cards(learner_id)
        }
        for answered in await self._answers(learner_id):
            card = cards.get(answered.key)
            if card is None:
                if answered.rating is Rating.Good:
                    continue  # a right answer puts nothing into the review
                started, _ = self.scheduler.review_card(
                    Card(card_id=0, due=answered.at), answered.rating, review_datetime=answered.at
                )
                cards[answered.key] = await self.store.add_review_card(
                    learner_id, *answered.key, started.to_json(), started.due, answered.at
                )
            elif answered.at > card.reviewed_at:
                moved, _ = self.scheduler.review_card(
                    Card.from_json(card.card), answered.rating, review_datetime=answered.at
                )
                if await self.store.update_review_card(card.id, card.reviews, moved.to_json(), moved.due, answered.at):
                    cards[answered.key] = replace(
                        card, card=moved.to_json(), due=moved.due, reviewed_at=answered.at, reviews=card.reviews + 1
                    )
                elif (fresh := await self.store.review_card(card.id)) is not None:  # another process moved it
                    cards[answered.key] = fresh
        return list(cards.values())

    async def _answers(self, learner_id: int) -> list[_Answered]:
        """Every quiz and test answer of the learner as an FSRS rating, oldest first."""
        answered: list[_Answered] = []
        for module in self.course.content.modules.values():
            quiz = await self.store.quiz_answers(learner_id, module.number)
            answered += [
                _Answered(answer.answered_at.astimezone(UTC), (module.number, "quiz", lesson, question_id),
                          Rating.Good if answer.correct else Rating.Again)
                for (lesson, question_id), answer in quiz.items()
            ]
            for attempt in await self.store.attempts(learner_id, module.number):
                shown = attempt.started_at
                for question_id, answer in (await self.store.attempt_answers(attempt.id)).items():
                    took = answer.answered_at - shown
                    shown = answer.answered_at
                    rating = Rating.Again if not answer.correct else (
                        Rating.Hard if SLOW_AFTER <= took < AWAY_AFTER else Rating.Good
                    )
                    answered.append(_Answered(answer.answered_at.astimezone(UTC),
                                              (module.number, "test", 0, question_id), rating))
        return sorted(answered, key=lambda entry: entry.at)
