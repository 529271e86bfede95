"""Cutting a long text into messages at clean boundaries, keeping code fences and markup intact.

A cut prefers, in order, a paragraph break, a line break and a space in the second half of the room; the
whitespace stays at the end of the earlier message, so joining the pieces (minus the fence lines added
below) gives back the text exactly. Inside a code block only line breaks count. A cut never falls inside
inline markup (``<@123>``, ``<https://x|label>``, ``**bold words**``, ``[label](url)``, a URL, an inline code
span) when it can avoid it, and a word longer than the room is cut hard between code points, never between a
surrogate pair or before a combining mark or joiner.

A code block open at a cut is closed at the end of that message (:data:`FENCE_CLOSE`, always the same so the
pieces join back unambiguously) and reopened with its language at the start of the next
(:func:`reopening_fence`).
"""

from __future__ import annotations

import bisect
import re
import unicodedata

FENCE = "```"
FENCE_CLOSE = "\n" + FENCE  # ends a message cut inside a code block (always on a line of its own)

_MARKUP = re.compile(
    r"""
      <[@#!:/a-zA-Z][^<>\n]*>            # mentions, channels, emoji, timestamps, Slack links <url|label>
    | \[[^\]\n]*\]\([^)\s]*\)            # [label](url)
    | https?://\S+                       # bare URLs
    | \*\*[^\n]+?\*\* | __[^\n]+?__ | ~~[^\n]+?~~ | \|\|[^\n]+?\|\|
    | `[^`\n]+`                          # inline code
    """,
    re.VERBOSE,
)
_WHITESPACE = re.compile(r"\s+")
_LOOKAHEAD = 512  # how far past the room to look for the end of markup that straddles it
_LANGUAGE = re.compile(r"[\w+#.-]*")
_LANGUAGE_MAX = 24  # a longer "language" is text; reopening with it would eat the room
_JOINERS = {"\u200d", "\u20e3"}  # zero-width joiner, combining enclosing keycap


def fence_after(text: str, fence: str | None = None) -> str | None:
    """The code block open at the end of ``text``, given ``fence`` open before it.

    Returns the block's language ("" for none), or None when no block is open. Like Discord, every
    ````` ``` ````` toggles; the word right after an opening one, up to the line's end, is the language.
    """
    position = 0
    while (found := text.find(FENCE, position)) != -1:
        position = found + len(FENCE)
        if fence is not None:
            fence = None
            continue
        line_end = text.find("\n", position)
        info = text[position:] if line_end == -1 else text[position:line_end]
        language = info.strip()
        fence = language if len(language) <= _LANGUAGE_MAX and _LANGUAGE.fullmatch(language) else ""
    return fence


def reopening_fence(fence: str | None) -> str:
    """What starts a message that continues inside a code block with language ``fence``."""
    return "" if fence is None else f"{FENCE}{fence}\n"


def cut_point(text: str, room: int, fence: str | None = None) -> int:
    """How many characters of ``text`` the next message takes when it may hold ``room`` of them.

    ``fence`` is the code block open at the start of ``text``. Always at least 1 (so callers progress) and
    ``len(text)`` when everything fits.
    """
    if room < 1:
        raise ValueError("room must be at least 1 character")
    if len(text) <= room:
        return len(text)
    protected = _protected_spans(text[: room + _LOOKAHEAD], room)
    toggles = _fence_toggles(text, room)
    best: dict[int, int] = {}  # level (0 paragraph, 1 line, 2 space) -> latest position
    position = 0
    while True:
        match = _WHITESPACE.search(text, position, room + 1)
        if match is None:
            break
        end = match.end()
        position = end
        if end > room or end >= len(text) or text[end].isspace():
            continue  # the run reaches past the room (or the window): no word starts here
        run = match.group()
        level = 0 if "\n\n" in run else 1 if "\n" in run else 2
        if level == 2 and (fence is not None) != (bisect.bisect_left(toggles, end) % 2 == 1):
            continue  # inside a code block only line breaks are clean
        if not _inside(end, protected):
            best[level] = end
    for level in (0, 1, 2):
        if best.get(level, 0) * 2 >= room:
            return best[level]
    if best:
        return max(best.values())
    return _hard_cut(text, room, protected)


def _fence_toggles(text: str, room: int) -> list[int]:
    """Where the fences in the first ``room`` characters start, in order."""
    toggles = []
    position = 0
    while (found := text.find(FENCE, position, room)) != -1:
        toggles.append(found)
        position = found + len(FENCE)
    return toggles


def _protected_spans(window: str, room: int) -> list[tuple[int, int]]:
    """Markup spans that fit in a message and so must not be cut."""
    return [match.span() for match in _MARKUP.finditer(window) if match.end() - match.start() <= room]


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < position < end for start, end in spans)


def _hard_cut(text: str, room: int, protected: list[tuple[int, int]]) -> int:
    """Cut a word longer than the room: before straddling markup if any, else between whole characters."""
    for start, end in protected:
        if start < room < end and start > 0:
            return start
    cut = room
    while cut > 1 and not _clean_between(text[cut - 1], text[cut]):
        cut -= 1
    if _clean_between(text[cut - 1], text[cut]):
        return cut
    # One enormous grapheme: cut it rather than loop forever, but never between a surrogate pair.
    return room - 1 if room > 1 and _surrogate_pair(text[room - 1], text[room]) else room


def _surrogate_pair(before: str, after: str) -> bool:
    """Python strings hold code points, but text decoded with "surrogatepass" can carry UTF-16 halves."""
    return "\ud800" <= before <= "\udbff" and "\udc00" <= after <= "\udfff"


def _clean_between(before: str, after: str) -> bool:
    if _surrogate_pair(before, after):
        return False
    if before in _JOINERS or after in _JOINERS:
        return False
    if "\ufe00" <= after <= "\ufe0f" or "\U0001f3fb" <= after <= "\U0001f3ff":
        return False  # variation selector, skin tone modifier
    return not unicodedata.combining(after)


def split_message(text: str, limit: int) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters, closing and reopening code blocks.

    Adapters use it for anything long (lessons, a final answer without streaming); joining the results after
    removing the added fence lines gives back ``text``.
    """
    pieces: list[str] = []
    fence: str | None = None
    start = 0
    while start < len(text):
        reopen = reopening_fence(fence)
        room = limit - len(reopen) - len(FENCE_CLOSE)
        if room < 1:
            raise ValueError(f"a limit of {limit} leaves no room for text after the code fences")
        rest = text[start:]
        end = len(rest) if len(reopen) + len(rest) <= limit else cut_point(rest, room, fence)
        body = rest[:end]
        fence = fence_after(body, fence)
        start += end
        close = FENCE_CLOSE if fence is not None and start < len(text) else ""
        pieces.append(reopen + body + close)
    return pieces
