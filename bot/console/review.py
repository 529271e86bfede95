"""``/review`` in the console: the due review questions one at a time, and ``/review remind on|off``.

The console is the learner's own terminal, so a reminder is a line at start-up (when reminders are on and
questions are due) rather than a message; the schedule and the rules are ``bot.core.review``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.review import ReviewService, button_value, reminder_switch, status_text, when_text

if TYPE_CHECKING:
    from bot.console.app import ConsoleApp


class ConsoleReview:
    def __init__(self, app: ConsoleApp) -> None:
        self.app = app
        self.service = ReviewService(app.course)

    def status_line(self) -> str:
        status = self.app._run(self.service.status(self.app.learner))
        return f"Review: {status_text(status, self.service.now())}"

    def greet(self) -> None:
        """At start-up, with reminders on: how many questions are due."""
        status = self.app._run(self.service.status(self.app.learner))
        if status.reminders and status.due:
            self.app.screen.hint(f"🔁 {status_text(status, self.service.now())} Type /review to go over them.")

    def run(self, words: str) -> None:
        """Serve the due questions until none is left (or the learner leaves with a command or Ctrl-C)."""
        from bot.console.app import new_event_id  # app.py imports this module

        app = self.app
        switch = reminder_switch(words)
        if switch is not None:
            app._run(self.service.set_reminders(app.learner, switch))
            app.screen.say("Reminders on: coursebot will say at start when questions are due." if switch
                           else "Review reminders are off.")
            return
        item = app._run(self.service.next_item(app.learner))
        if item is None:
            app.screen.say(self.status_line())
            return
        while item is not None:
            app.screen.question(item.question, f"Review · {item.source} ({item.due_count} due)")
            index = app._ask_option(item.question)
            result = app._run(self.service.answer(app.learner, button_value(item.card, index), new_event_id()))
            app.screen.quiz_outcome(result.outcome)
            app.screen.hint(f"This question comes back {when_text(result.next_due, self.service.now())}.")
            item = result.next
        app.screen.say("That was the last question due. " + self.status_line())
