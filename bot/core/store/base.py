"""The storage interface. ``SQLiteStore`` implements it; a PostgreSQL backend can too.

Callers only see this Protocol and the row types below. History is append-only:
every answer that counts, attempt and lab turn is its own row, never overwritten
(finishing an attempt only fills in its result). Writes that come from a platform
event carry that event's id (``event_id``) and are idempotent on it, so a double click
or a redelivered event is recorded once; an event id that already recorded a different
write raises ``EventIdReused`` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

TurnStatus = Literal["complete", "partial", "stopped", "failed", "interrupted"]
ClaimStatus = Literal["streaming", "done", "interrupted"]


class StoreError(Exception):
    """The store cannot do what was asked (not open, schema too new, ...)."""


class EventIdReused(StoreError):
    """An event id already recorded a different write: the new write was refused, nothing changed."""


@dataclass(frozen=True, slots=True)
class LearnerRef:
    """Who is learning: unique per (platform, workspace or guild, user id)."""

    platform: str  # "discord" | "slack" | "console"
    workspace: str  # guild id, team id, or "local"
    user_id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer as recorded. ``new`` is False when an earlier answer already stood."""

    question_id: str
    option_index: int
    correct: bool
    answered_at: datetime
    new: bool = True


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    learner_id: int
    module: int
    started_at: datetime
    finished_at: datetime | None = None
    score: int | None = None
    total: int | None = None
    passed: bool | None = None
    seed: int = 0  # the order its questions and options are shown in (0: the content's order)


@dataclass(frozen=True, slots=True)
class LabThread:
    id: int
    learner_id: int
    module: int
    lab: int
    platform: str
    thread_key: str  # the platform's thread / channel id (Slack: "channel:thread_ts")
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LessonSource:
    """A lesson section an answer cited: the lesson's number and the section's heading."""

    lesson: int
    section: str


def sources_json(sources: Sequence[LessonSource]) -> str:
    """How a turn's sources are stored (``lab_turns.sources``)."""
    return json.dumps([{"lesson": s.lesson, "section": s.section} for s in sources], ensure_ascii=False)


def sources_from_json(text: str) -> tuple[LessonSource, ...]:
    return tuple(LessonSource(int(item["lesson"]), str(item["section"])) for item in json.loads(text or "[]"))


@dataclass(frozen=True, slots=True)
class LabTurn:
    """One question to a lab assistant and the answer as it ended (``sources``: the lesson sections it cited)."""

    question: str
    answer: str
    status: TurnStatus
    error: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float | None = None
    stop_reason: str | None = None
    model: str = ""
    sources: tuple[LessonSource, ...] = ()


@dataclass(frozen=True, slots=True)
class AnswerClaim:
    """A lab question admitted for answering, claimed by its platform event id (see ``Store.claim_answer``).

    ``message_ids`` and ``shown`` (what the answer's last message displayed) are checkpoints written with each
    lease renewal: after a crash they are what the reconciler repairs; ``answer`` is the text received so far.
    """

    id: int
    event_id: str
    thread_id: int
    learner_id: int
    question: str
    status: ClaimStatus
    owner: str
    lease_until: datetime
    created_at: datetime
    message_ids: tuple[str, ...] = ()
    shown: str = ""
    answer: str = ""


@dataclass(frozen=True, slots=True)
class OptionCount:
    """How many learners chose an option (first answers only for quizzes)."""

    kind: Literal["quiz", "test"]
    scope: int  # lesson number for quizzes, 0 for the module test
    question_id: str
    option_index: int
    correct: bool
    count: int


ReviewKind = Literal["quiz", "test"]


@dataclass(frozen=True, slots=True)
class ReviewCard:
    """A question in a learner's spaced review: its FSRS card (``fsrs.Card`` as JSON) and when it is due.

    ``reviewed_at`` is the time of the last answer applied to the card and ``reviews`` how many were; an
    update names the ``reviews`` it read, so an answer is never applied twice.
    """

    id: int
    learner_id: int
    module: int
    kind: ReviewKind
    scope: int  # lesson number for quizzes, 0 for the module test
    question_id: str
    card: str
    due: datetime
    reviewed_at: datetime
    reviews: int


@dataclass(frozen=True, slots=True)
class ReviewAnswer:
    """An answer given in /review, recorded once per platform event id."""

    card_id: int
    event_id: str
    option_index: int
    correct: bool
    rating: str  # the FSRS rating it gave: "again", "hard", "good"
    answered_at: datetime
    due: datetime  # when the card fell due again after it


@dataclass(frozen=True, slots=True)
class StageCount:
    """How many learners reached a stage of the course funnel (for the instructor's chart)."""

    stage: Literal["viewed", "quiz", "lab", "passed"]
    number: int  # the lesson (viewed, quiz), the lab (lab), 0 (passed: the module test)
    learners: int


@dataclass(frozen=True, slots=True)
class LearnerSummary:
    """One learner's progress in a module, for the instructor's full export."""

    learner_id: int
    platform: str
    workspace: str
    user_id: str
    display_name: str
    lessons_viewed: int
    quiz_answered: int
    quiz_correct: int
    lab_answers: int  # lab questions answered completely
    test_attempts: int  # finished attempts
    best_test_percent: int | None
    test_passed: bool
    review_cards: int


@dataclass(frozen=True, slots=True)
class FinishedAnswer:
    """A lab answer as recorded, found by its answer id (the id its buttons carry)."""

    answer_id: int
    learner_id: int
    thread: LabThread
    turn: LabTurn


@dataclass(frozen=True, slots=True)
class AnswerFeedback:
    """A learner's 👍 / 👎 on an answer: one per learner and answer, the latest click standing."""

    answer_id: int
    learner_id: int
    helpful: bool
    reason: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UnhelpfulAnswer:
    """An answer marked 👎, for the instructor: which lab, the question, the reason given."""

    answer_id: int
    lab: int
    question: str
    reason: str
    platform: str
    workspace: str
    display_name: str
    updated_at: datetime


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def learner_id(self, learner: LearnerRef) -> int:
        """The learner's row id, created on first sight (display name kept fresh)."""

    async def find_learner(self, learner: LearnerRef) -> int | None:
        """The learner's row id, or None for someone never seen (creates nothing)."""

    async def record_lesson_view(self, learner_id: int, module: int, lesson: int) -> None: ...

    async def lessons_viewed(self, learner_id: int, module: int) -> set[int]: ...

    async def record_quiz_answer(
        self, learner_id: int, module: int, lesson: int, question_id: str,
        option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        """Record the learner's first answer to a quiz question; return the answer that stands."""

    async def record_quiz_answer_by(
        self, learner: LearnerRef, module: int, lesson: int, question_id: str,
        option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        """``record_quiz_answer`` for the learner ``learner`` refers to, added on first sight as ``learner_id``
        does: a click's acknowledgement waits on it, so a store that can does both in one round trip."""

    async def quiz_answers(self, learner_id: int, module: int) -> dict[tuple[int, str], StoredAnswer]:
        """First answers keyed by (lesson, question_id)."""

    async def quiz_respondents(self, module: int, lesson: int) -> int:
        """How many distinct learners answered at least one question of the quiz."""

    async def open_attempt(self, learner_id: int, module: int) -> Attempt | None:
        """The unfinished test attempt, if any."""

    async def start_attempt(self, learner_id: int, module: int, seed: int = 0) -> Attempt:
        """A new attempt shown in the order ``seed`` gives; an unfinished one is returned instead of a second."""

    async def record_test_answer(
        self, attempt_id: int, question_id: str, option_index: int, correct: bool, event_id: str,
    ) -> StoredAnswer:
        """Record the attempt's answer to a question, once; return the answer that stands."""

    async def attempt(self, attempt_id: int) -> Attempt | None:
        """The attempt with this id, finished or not; None when there is none."""

    async def attempt_answers(self, attempt_id: int) -> dict[str, StoredAnswer]: ...

    async def finish_attempt(self, attempt_id: int, score: int, total: int, passed: bool) -> Attempt:
        """Close the attempt (idempotent: a finished attempt is returned unchanged)."""

    async def attempts(self, learner_id: int, module: int) -> list[Attempt]:
        """Every attempt, oldest first."""

    async def create_lab_thread(
        self, learner_id: int, module: int, lab: int, platform: str, thread_key: str,
    ) -> LabThread:
        """The thread for (platform, thread_key): created, or the existing one returned unchanged."""

    async def lab_thread(self, platform: str, thread_key: str) -> LabThread | None: ...

    async def lab_thread_by_id(self, thread_id: int) -> LabThread | None: ...

    async def lab_threads(self, learner_id: int, module: int) -> list[LabThread]: ...

    async def latest_lab_thread(self, learner_id: int, module: int, lab: int, platform: str) -> LabThread | None:
        """The learner's newest thread for this lab on ``platform`` (``/lab`` points back to it)."""

    async def record_lab_turn(self, thread_id: int, event_id: str, turn: LabTurn) -> bool:
        """Record a finished turn once per event id; False when it was already recorded."""

    async def lab_turns(self, thread_id: int) -> list[LabTurn]:
        """The thread's turns, oldest first."""

    async def answered_turns(self, learner_id: int, module: int, lab: int) -> int:
        """How many of the learner's questions in this lab (every thread) were answered completely."""

    async def claim_answer(
        self, event_id: str, thread_id: int, learner_id: int, question: str, *, owner: str, lease: float,
    ) -> AnswerClaim | None:
        """Claim the event for answering (status streaming, leased to ``owner`` for ``lease`` seconds).

        None when the event id was claimed before (a redelivery, in this process or any other, before or
        after a restart): nothing is answered twice.
        """

    async def answer_claim(self, claim_id: int) -> AnswerClaim | None:
        """The claim with this id (a Stop button carries it), or None."""

    async def is_claimed(self, event_id: str) -> bool: ...

    async def renew_claim(
        self, claim_id: int, *, owner: str, lease: float, message_ids: Sequence[str], shown: str, answer: str,
    ) -> bool:
        """Extend a streaming claim and checkpoint it; False when ``owner`` no longer holds it."""

    async def finish_claim(self, claim_id: int, turn: LabTurn) -> bool:
        """Record the claim's turn and close the claim, in one transaction; False when already finished."""

    async def expired_claims(self) -> list[AnswerClaim]:
        """Claims still streaming whose lease has run out: their owner is gone."""

    async def take_over_claim(self, claim_id: int, *, owner: str, lease: float) -> bool:
        """Lease an expired claim to ``owner``; False when another process took it first (or it ended)."""

    async def claims_since(self, learner_id: int, since: datetime) -> list[datetime]:
        """When each of the learner's questions claimed since ``since`` was admitted, oldest first."""

    async def output_tokens_since(self, learner_id: int, since: datetime) -> int:
        """Output tokens of the learner's lab answers recorded since ``since``."""

    async def option_counts(self, module: int) -> list[OptionCount]:
        """Per question and option, how many learners chose it (for instructor statistics).

        Only first answers count: a learner's first answer to a quiz question, and the answers
        given in the learner's first attempt at the module test (retakes would inflate the
        share correct). Rows are split by the ``correct`` flag recorded when answering.
        """

    # Spaced review

    async def review_cards(self, learner_id: int) -> list[ReviewCard]:
        """Every card of the learner's review, oldest first."""

    async def review_card(self, card_id: int) -> ReviewCard | None: ...

    async def add_review_card(
        self, learner_id: int, module: int, kind: ReviewKind, scope: int, question_id: str,
        card: str, due: datetime, reviewed_at: datetime,
    ) -> ReviewCard:
        """Start reviewing a question (one card per learner and question); an existing card is returned unchanged."""

    async def update_review_card(
        self, card_id: int, reviews: int, card: str, due: datetime, reviewed_at: datetime,
        answer: ReviewAnswer | None = None,
    ) -> bool:
        """Apply one more answer to the card, and record ``answer`` (a /review answer) with it, in one transaction.

        False, changing nothing, when the card no longer has ``reviews`` answers (another answer came first).
        Raises ``EventIdReused`` when ``answer``'s event id already recorded another answer.
        """

    async def review_answer(self, event_id: str) -> ReviewAnswer | None:
        """The /review answer recorded for this event id, if any."""

    async def set_review_reminders(self, learner_id: int, enabled: bool, now: datetime) -> None: ...

    async def review_reminders(self, learner_id: int) -> bool:
        """Whether the learner asked for review reminders."""

    async def reminder_candidates(self, platform: str, before: datetime) -> list[tuple[int, LearnerRef]]:
        """Learners on ``platform`` with reminders on and none sent since ``before``."""

    async def claim_reminder(self, learner_id: int, now: datetime, before: datetime) -> bool:
        """Mark a reminder sent at ``now`` unless one was sent since ``before`` (or reminders are off): True
        for the one caller that may send it, across processes."""

    # Instructor's view and data rights

    async def funnel(self, module: int) -> list[StageCount]:
        """Distinct learners per lesson viewed, quiz answered, lab asked in, and who passed the module test."""

    async def learner_summaries(self, module: int) -> list[LearnerSummary]:
        """Every learner's progress in the module, by learner id."""

    async def learner_data(self, learner_id: int) -> dict[str, list[dict[str, object]]]:
        """Every row the store holds about the learner, by table (``LEARNER_TABLES``), values as stored."""

    async def forget_learner(self, learner_id: int) -> dict[str, int]:
        """Delete every row about the learner, in one transaction; rows deleted by table."""

    # Answer feedback

    async def finished_answer(self, answer_id: int) -> FinishedAnswer | None:
        """The answer with this id once its turn is recorded; None for an unknown or still streaming answer."""

    async def set_feedback(self, answer_id: int, learner_id: int, helpful: bool, reason: str = "") -> AnswerFeedback:
        """Record the learner's feedback on the answer: the first click adds it, a later one replaces it."""

    async def feedback(self, answer_id: int, learner_id: int) -> AnswerFeedback | None: ...

    async def unhelpful_answers(self, module: int) -> list[UnhelpfulAnswer]:
        """The module's answers whose feedback stands at 👎, newest first."""
