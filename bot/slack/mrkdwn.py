"""Text that is safe to put in Slack: escaping, and lesson Markdown converted to mrkdwn.

Slack reads ``<...>`` as a control sequence (``<!channel>``, ``<@U123>``, ``<url|label>``) and ``&`` as the
start of an entity, so every piece of learner or model text goes through :func:`escape` before it is put in
a message. Only the links this module builds itself (http, https and mailto URLs from lesson Markdown) are
emitted as ``<url|label>``.
"""

from __future__ import annotations

import re

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,9})[.)]\s+(.*)$")
_QUOTE = re.compile(r"^>\s?(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# Inline Markdown, in priority order: code spans first (nothing inside them is formatting).
_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|(?P<bold>\*\*|__)(?P<bold_text>\S(?:.*?\S)?)(?P=bold)"
    r"|(?<![\w*])\*(?P<em_text>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![\w*])"
    r"|(?<!\w)_(?P<em2_text>[^_\s](?:[^_\n]*?[^_\s])?)_(?!\w)"
)
TABLE_CODE_WIDTH = 60  # characters a preformatted line shows on a phone before it wraps
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s<>|]+$", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so ``text`` cannot ping anyone or break the message's markup."""
    return text.translate(_ESCAPES)


def plain(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (for plain_text fields like headers and buttons)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def inline(markdown: str) -> str:
    """One line of Markdown as mrkdwn: bold, italics, code spans and links; everything else escaped."""
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(markdown):
        out.append(escape(markdown[position : match.start()]))
        position = match.end()
        if match["code"]:
            out.append(f"`{escape(match['code_text'].strip())}`")
        elif match["url"]:
            out.append(_link(match["label"], match["url"]))
        elif match["bold"]:
            out.append(f"*{inline(match['bold_text'])}*")
        else:
            out.append(f"_{inline(match['em_text'] or match['em2_text'])}_")
    out.append(escape(markdown[position:]))
    return "".join(out)


def _link(label: str, url: str) -> str:
    text = escape(label).replace("|", "¦")
    if not _SAFE_URL.match(url):
        return text
    return f"<{escape(url)}|{text}>"


def to_mrkdwn(markdown: str) -> str:
    """Convert a Markdown document (lesson text) to Slack mrkdwn.

    Paragraphs are re-joined onto one line (Slack shows every newline), code blocks stay preformatted (the
    language tag is dropped: mrkdwn has none), narrow tables become aligned preformatted text and wide ones a
    line per row, headings become bold lines, bullets become "•", numbered items keep their numbers and block
    quotes stay quotes.
    """
    lines = markdown.splitlines()
    out: list[str] = []
    paragraph: list[str] = []
    prefix = ""

    def flush() -> None:
        if paragraph:
            out.append(prefix + inline(" ".join(paragraph)))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if fence := _FENCE.match(line):
            flush()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            out.append("```\n" + escape("\n".join(body)) + "\n```")
        elif _is_table_start(lines, i):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                if not _TABLE_RULE.match(lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            out.append(_table(rows))
            continue
        elif not line.strip():
            flush()
            out.append("")
        elif heading := _HEADING.match(line):
            flush()
            out.append(f"*{inline(heading.group(2))}*")
        elif bullet := _BULLET.match(line):
            flush()
            prefix = f"{bullet.group(1)}• "
            paragraph.append(bullet.group(2))
        elif numbered := _NUMBERED.match(line):
            flush()
            prefix = f"{numbered.group(1)}{numbered.group(2)}. "
            paragraph.append(numbered.group(3))
        elif (quote := _QUOTE.match(line)) and not (paragraph and prefix == "> "):
            flush()
            prefix = "> "
            paragraph.append(quote.group(1))
        else:
            if not paragraph:
                prefix = ""
            paragraph.append(quote.group(1) if quote else line.strip())
        i += 1
    flush()
    return "\n".join(out).strip("\n")


def _is_table_start(lines: list[str], i: int) -> bool:
    return lines[i].strip().startswith("|") and i + 1 < len(lines) and bool(_TABLE_RULE.match(lines[i + 1]))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _strip_inline(text: str) -> str:
    """Preformatted table cells keep their words and drop Markdown emphasis and code marks."""
    return re.sub(r"(\*\*|__|`)", "", text)


def _table(rows: list[list[str]]) -> str:
    """A Markdown table as mrkdwn: aligned preformatted text when it is narrow enough not to wrap on a phone,
    else one line per row ("• *first cell* — _Header_: cell · _Header_: cell")."""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    aligned = _aligned([[_strip_inline(cell) for cell in row] for row in rows])
    if max(len(line) for line in aligned) <= TABLE_CODE_WIDTH or len(rows) < 2 or width < 2:
        return "```\n" + escape("\n".join(aligned)) + "\n```"
    header, *body = rows
    return "\n".join(f"• *{inline(row[0])}* — " + _row_fields(header[1:], row[1:]) for row in body)


def _row_fields(names: list[str], cells: list[str]) -> str:
    return " · ".join(f"_{inline(name)}_: {inline(cell)}" for name, cell in zip(names, cells, strict=True) if cell)


def _aligned(rows: list[list[str]]) -> list[str]:
    sizes = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(size) for cell, size in zip(row, sizes, strict=True)).rstrip() for row in rows]
    if len(lines) > 1:
        lines.insert(1, "-+-".join("-" * size for size in sizes))
    return lines
