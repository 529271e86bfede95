"""Learner-facing wording that is the same on every platform (adapters format it, never reword it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.course import LabProgress

NO_CLAUDE = "The lab assistant is not available: this course bot has no Claude API key configured."
UNAVAILABLE = "The lab assistant is not available right now; the course operator has been told. Please try later."
RESTARTING = "The bot is restarting; ask again in a moment."
BUSY = "I'm still answering your previous question in this lab. Wait for it to finish (or stop it), then ask again."
NOT_YOURS = "This lab belongs to another learner. Open your own with `/lab {number}`."
NOT_A_LAB = "Use this inside your lab thread; open one with `/lab`."
STALE_BUTTON = "This button is out of date. Run the command again to get a fresh one."
NOTHING_TO_STOP = "That answer has already finished."
NOT_YOUR_ANSWER = "Only the learner who asked can stop this answer."
STOPPING = "⏹️ Stopping the answer."

QUEUED_OWN = "⏳ Your other answers are still streaming; this one starts as soon as one of them ends."
QUEUED_CLASS = "⏳ Many learners are asking right now; your answer starts in a moment."
RETRYING = "Claude is busy, retrying…"
STOPPED = "⏹️ Stopped."
CUT = "⚠️ The answer was cut off ({reason}). What arrived is kept above; you can ask again (e.g. \"please continue\")."
INTERRUPTED = "⚠️ The bot restarted before this answer was finished. What arrived is kept above; please ask again."
TRY_AGAIN = "⚠️ Claude could not answer ({reason}). Please ask again in a minute."
REJECTED = "⚠️ Claude could not answer this question ({reason})."
NO_TEXT = "⚠️ Claude returned no answer text. Please rephrase your question."
LENGTH = "✂️ The answer reached its length limit; ask a follow-up question for the rest."


def progress_note(progress: LabProgress, *, completed_now: bool) -> str:
    """``Question 2 of 3``, or the completion line on the answer that completed the lab ('' after that)."""
    need = progress.lab.questions_to_complete
    if completed_now:
        return f"🎉 Lab {progress.lab.number} complete! Keep asking if you like; `/progress` shows the whole module."
    if progress.complete:
        return ""
    return f"Question {progress.asked} of {need}"
