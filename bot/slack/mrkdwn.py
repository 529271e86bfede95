"""Text that is safe to put in Slack: escaping, and lesson Markdown converted to mrkdwn.

Slack reads ``<...>`` as a control sequence (``<!channel>``, ``<@U123>``, ``<url|label>``) and ``&`` as the
start of an entity, so every piece of learner or model text goes through :func:`escape` before it is put in
a message. Only the links this module builds itself (http and https URLs from Markdown links, made honest
by :mod:`bot.core.links`) are emitted as ``<url|label>``.
"""

from __future__ import annotations

import re

from bot.core import links
from bot.core.content import markdown as md

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Inline Markdown, in priority order: code spans first (nothing inside them is formatting).
_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|(?P<bold>\*\*|__)(?P<bold_text>\S(?:.*?\S)?)(?P=bold)"
    r"|(?<![\w*])\*(?P<em_text>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![\w*])"
    r"|(?<!\w)_(?P<em2_text>[^_\s](?:[^_\n]*?[^_\s])?)_(?!\w)"
)
_LINKABLE = re.compile(r"^[^\s<>|]+$")  # what fits in <url|label> without breaking it


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so ``text`` cannot ping anyone or break the message's markup."""
    return text.translate(_ESCAPES)


def answer_markdown(text: str) -> str:
    """Model output for a ``markdown_text`` field: links made honest (:mod:`bot.core.links`), then escaped.

    For a whole text (post, update), not for appended deltas: a link can span two deltas.
    """
    return escape(links.honest_links(text, with_target="{text} ({url})"))


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
    """``<url|label>`` for an honest http(s) link; the label and its real target for a deceptive one
    (``paypal.com (<https://evil.example>)``); the label alone for any other scheme (``javascript:``…)."""
    text = escape(label).replace("|", "¦")
    shown = links.verdict(label, url)
    if shown == "text" or not _LINKABLE.match(url):
        return text
    if shown == "text+target":
        return f"{text} (<{escape(url)}>)"
    return f"<{escape(url)}|{text}>"


class _Mrkdwn(md.Renderer):
    bullet = "•"

    def inline(self, text: str) -> str:
        return inline(text)

    def heading(self, heading: md.Heading) -> str:
        return f"*{inline(heading.text)}*"

    def code(self, code: md.Code) -> str:
        return "```\n" + escape(code.text) + "\n```"  # mrkdwn has no language tag

    def wide_table(self, table: md.Table) -> str:
        """One line per row: "• *first cell* — _Header_: cell · _Header_: cell"."""
        return "\n".join(f"• *{inline(row[0])}* — " + _row_fields(table.header[1:], row[1:]) for row in table.rows)


_MRKDWN = _Mrkdwn()


def to_mrkdwn(markdown: str) -> str:
    """Convert a Markdown document (lesson text) to Slack mrkdwn.

    Paragraphs are re-joined onto one line (Slack shows every newline), code blocks stay preformatted (the
    language tag is dropped: mrkdwn has none), narrow tables become aligned preformatted text and wide ones a
    line per row, headings become bold lines, bullets become "•", numbered items keep their numbers and block
    quotes stay quotes.
    """
    return _MRKDWN.render(markdown)


def _row_fields(names: tuple[str, ...], cells: tuple[str, ...]) -> str:
    return " · ".join(f"_{inline(name)}_: {inline(cell)}" for name, cell in zip(names, cells, strict=True) if cell)
