"""What a finished lab answer offers its learner: the lesson sections it cites, and 👍 / 👎.

Buttons carry the answer's id (``lab_answers.id``, the id the Stop button carried while it streamed); what they
act on is read from the store, so they keep working after a restart. Anyone who sees an answer may open its sources (lesson
text); only the learner who asked may rate it. Feedback is stored once per learner and answer; a second
click replaces the first, and a 👎 may carry a short reason. Instructors read the answers marked unhelpful
(``unhelpful``), with the question and the lesson, for their own workspace only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.citations import SectionText, section_text
from bot.core.course import CourseError, CourseService
from bot.core.store.base import AnswerFeedback, FinishedAnswer, LearnerRef

REASON_MAX = 300
THANKS_GOOD = "👍 Thanks! Glad the answer helped."
THANKS_BAD = "👎 Thanks for telling us. The instructors see answers marked unhelpful."
THANKS_REASON = "👎 Thanks: your reason was saved with your feedback."
NOT_YOURS = "Only the learner who asked can rate this answer."
NO_ANSWER = "That answer is not finished yet (or no longer exists)."
NOT_RATEABLE = "Only answers with text can be rated."
NO_SUCH_SOURCE = "That source is not part of this answer."
NO_LAST_ANSWER = "There is no answer to rate yet: ask the lab assistant a question first."


@dataclass(frozen=True, slots=True)
class UnhelpfulLine:
    """An answer marked 👎, as an instructor reads it."""

    lab: int
    lesson: str  # "Lesson 2: Enabling Streaming in the Python SDK"
    question: str
    reason: str
    learner: str


class AnswerFeedbackService:
    """Sources and feedback of finished lab answers (one per process, platform-free)."""

    def __init__(self, course: CourseService) -> None:
        self.course = course

    async def _own_answer(self, answer_id: int, learner: LearnerRef) -> FinishedAnswer:
        found = await self.course.store.finished_answer(answer_id)
        if found is None:
            raise CourseError(NO_ANSWER)
        if await self.course.store.find_learner(learner) != found.learner_id:
            raise CourseError(NOT_YOURS)
        return found

    async def source(self, answer_id: int, index: int) -> SectionText:
        """The ``index``-th source of the answer, as its lesson has it now."""
        found = await self.course.store.finished_answer(answer_id)
        if found is None:
            raise CourseError(NO_ANSWER)
        sources = found.turn.sources
        if not 0 <= index < len(sources):
            raise CourseError(NO_SUCH_SOURCE)
        source = sources[index]
        return section_text(self.course.lesson(source.lesson, found.thread.module), source)

    async def rate(self, answer_id: int, learner: LearnerRef, helpful: bool, reason: str = "") -> AnswerFeedback:
        """Record 👍 / 👎 (a later click replaces an earlier one); a reason longer than ``REASON_MAX`` is refused."""
        reason = " ".join(reason.split())
        if len(reason) > REASON_MAX:
            raise CourseError(f"Please keep the reason under {REASON_MAX} characters (it has {len(reason)}).")
        found = await self._own_answer(answer_id, learner)
        if not found.turn.answer or found.turn.status not in ("complete", "partial", "stopped"):
            raise CourseError(NOT_RATEABLE)
        return await self.course.store.set_feedback(answer_id, found.learner_id, helpful, reason)

    async def unhelpful(self, platform: str, workspace: str, module: int | None = None) -> list[UnhelpfulLine]:
        """The workspace's answers whose feedback stands at 👎, newest first."""
        found = self.course.module(module)
        lines = []
        for row in await self.course.store.unhelpful_answers(found.number):
            if (row.platform, row.workspace) != (platform, workspace):
                continue
            lab = found.labs.get(row.lab)
            lesson = found.lessons.get(lab.lesson) if lab is not None else None
            title = f"Lesson {lesson.number}: {lesson.title}" if lesson is not None else f"Lab {row.lab}"
            lines.append(UnhelpfulLine(row.lab, title, row.question, row.reason, row.display_name))
        return lines


def thanks(feedback: AnswerFeedback) -> str:
    if feedback.helpful:
        return THANKS_GOOD
    return THANKS_REASON if feedback.reason else THANKS_BAD


def unhelpful_text(lines: list[UnhelpfulLine], limit: int = 10) -> str:
    """A short list for the instructor's stats message; "" when no answer is marked unhelpful."""
    if not lines:
        return ""
    shown = [
        f"• Lab {line.lab} ({line.lesson}) · {line.learner or 'a learner'}: “{_clip(line.question, 120)}”"
        + (f" · reason: {_clip(line.reason, 120)}" if line.reason else "")
        for line in lines[:limit]
    ]
    more = f"\n…and {len(lines) - limit} more." if len(lines) > limit else ""
    return f"👎 Answers marked unhelpful ({len(lines)}):\n" + "\n".join(shown) + more


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
