"""What follows a lab answer in the console: its sources (``/source N`` prints one) and ``/feedback``.

After an answer that cites the lesson, each source is listed with the command that prints it; every answer
that can be rated says how. ``/feedback good`` or ``/feedback bad [reason]`` rates the session's last answer
(a second one changes it); the rules and the storage are ``bot.core.feedback``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.console.commands import CommandError
from bot.core.citations import source_label
from bot.core.course import CourseError
from bot.core.feedback import NO_LAST_ANSWER, AnswerFeedbackService, thanks
from bot.core.labs import Ending, Ticket

if TYPE_CHECKING:
    from bot.console.app import ConsoleApp

FEEDBACK_USAGE = "/feedback good|bad [reason]"
VOTES = {"good": True, "bad": False}
NO_SOURCES = "The last answer cites no lesson section."


class AnswerExtras:
    def __init__(self, app: ConsoleApp) -> None:
        self.app = app
        self.service = AnswerFeedbackService(app.course)
        self.answer_id: int | None = None
        self.ending: Ending | None = None

    def answered(self, ticket: Ticket) -> None:
        """Remember the answer just shown and list what the learner can do with it."""
        self.answer_id, self.ending = ticket.id, ticket.ending
        if ticket.ending is None:
            return
        for number, source in enumerate(ticket.ending.sources, start=1):
            self.app.screen.hint(f"/source {number} · {source_label(source)}")
        if ticket.ending.rateable:
            self.app.screen.hint(f"Did this help? {FEEDBACK_USAGE}")

    def source(self, number: int) -> None:
        """Print the ``number``-th (1-based) source of the last answer, as its lesson has it now."""
        if self.answer_id is None:
            raise CourseError("No lab answer yet: ask the lab assistant a question first.")
        if self.ending is None or not self.ending.sources:
            raise CourseError(NO_SOURCES)
        if not 1 <= number <= len(self.ending.sources):
            count = len(self.ending.sources)
            raise CommandError(f"The last answer has {count} source{'s' if count > 1 else ''}: "
                               f"type /source 1{f' to /source {count}' if count > 1 else ''}.")
        self.app.screen.source_section(self.app._run(self.service.source(self.answer_id, number - 1)))

    def feedback(self, words: str) -> None:
        """``good`` or ``bad [reason]`` about the last answer."""
        vote, _, reason = words.strip().partition(" ")
        helpful = VOTES.get(vote.lower())
        if helpful is None or (helpful and reason.strip()):
            raise CommandError(f"Usage: {FEEDBACK_USAGE} (a reason goes with bad).")
        if self.answer_id is None:
            raise CourseError(NO_LAST_ANSWER)
        stored = self.app._run(self.service.rate(self.answer_id, self.app.learner, helpful, reason))
        self.app.screen.say(thanks(stored))
