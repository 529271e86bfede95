"""Block Kit builders, each within Slack's limits: callers pass text, these functions keep it legal.

Limits (Slack rejects a message that breaks one with ``invalid_blocks``): 50 blocks a message, header
150 characters, section text 3000, button text 75, action_id 255, value 2000, 10 context elements, 12,000
characters of Markdown in a message's ``markdown`` blocks, 5 elements in a ``context_actions`` block.
Section text is mrkdwn the caller has already made safe (:mod:`bot.slack.mrkdwn`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.streaming.chunking import split_message
from bot.slack.mrkdwn import plain

Block = dict[str, Any]

MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_MAX = 3000
BUTTON_TEXT_MAX = 75
ACTION_ID_MAX = 255
VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
MARKDOWN_MAX = 12000


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text, HEADER_MAX), "emoji": True}}


def sections(mrkdwn: str) -> list[Block]:
    """``mrkdwn`` in as many section blocks as it needs (split on clean boundaries, code blocks reopened)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}}
        for part in split_message(mrkdwn, SECTION_MAX)
        if part.strip()
    ]


def context(items: Iterable[str]) -> list[Block]:
    """Small grey mrkdwn lines, ten to a context block."""
    elements = [{"type": "mrkdwn", "text": item[:SECTION_MAX]} for item in items if item]
    return [
        {"type": "context", "elements": elements[i : i + CONTEXT_ELEMENTS_MAX]}
        for i in range(0, len(elements), CONTEXT_ELEMENTS_MAX)
    ]


def markdown(text: str) -> Block:
    """Standard Markdown that Slack renders (as ``markdown_text`` does), for a message that also has blocks."""
    if not text or len(text) > MARKDOWN_MAX:
        raise ValueError(f"a markdown block takes 1 to {MARKDOWN_MAX} characters, not {len(text)}")
    return {"type": "markdown", "text": text}


def feedback_buttons(action_id: str, positive: str, negative: str) -> Block:
    """Slack's native 👍 / 👎 for AI answers (a ``feedback_buttons`` element in a ``context_actions`` block);
    a press sends ``action_id`` with the value of the button pressed."""
    def side(emoji: str, value: str, label: str) -> Block:
        if len(value) > VALUE_MAX:
            raise ValueError(f"feedback button {action_id[:40]!r}: value too long")
        return {"text": {"type": "plain_text", "text": emoji, "emoji": True}, "value": value,
                "accessibility_label": label}

    return {"type": "context_actions", "elements": [{
        "type": "feedback_buttons", "action_id": action_id[:ACTION_ID_MAX],
        "positive_button": side("👍", positive, "This answer helped"),
        "negative_button": side("👎", negative, "This answer did not help"),
    }]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> Block:
    if len(action_id) > ACTION_ID_MAX or len(value) > VALUE_MAX:
        raise ValueError(f"button {action_id[:40]!r}: action_id or value too long")
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": plain(text, BUTTON_TEXT_MAX), "emoji": True},
        "action_id": action_id,
    }
    if value:
        element["value"] = value
    if style:
        element["style"] = style
    return element


def actions(buttons: Sequence[Block], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(buttons)}
    if block_id:
        block["block_id"] = block_id[:ACTION_ID_MAX]
    return block


def paginate(blocks: Sequence[Block], size: int = MAX_BLOCKS) -> list[list[Block]]:
    """Blocks split into messages of at most ``size`` blocks each."""
    return [list(blocks[i : i + size]) for i in range(0, len(blocks), size)] or [[]]
