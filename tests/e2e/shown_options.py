"""Answering a shuffled test as a learner does: by reading the options in the order the message shows them."""

from __future__ import annotations

from bot.core.content.model import Option, Question


def _flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def shown_order(question: Question, shown: str) -> list[Option]:
    """``question``'s options in the order ``shown`` (a message's visible text) lists them."""
    flat = _flat(shown)
    return sorted(question.options, key=lambda option: flat.index(_flat(option.label)))


def shown_index(question: Question, shown: str, *, correct: bool) -> int:
    """The position of the correct option (or of the first wrong one) as ``shown``: what its button sends."""
    return next(i for i, option in enumerate(shown_order(question, shown)) if option.correct == correct)
