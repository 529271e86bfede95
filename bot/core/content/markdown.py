"""Lesson Markdown split into blocks, for the adapters that re-draw it in a chat platform's own markup.

Neither Discord nor Slack draws all of lesson Markdown (tables, deep headings, wrapped paragraphs), so each
adapter renders these blocks its own way. The parser understands the subset of CommonMark and GitHub tables
that lessons use: fenced code (```` ``` ```` or ``~~~``, with a language), pipe tables (a header, a rule row
whose colons set each column's alignment, then rows; ``\\|`` is a literal pipe in a cell), ``#`` headings,
bullet and numbered list items (nested by indentation), ``>`` quotes and paragraphs. Wrapped lines of a
paragraph, list item or quote are joined with spaces, since chat platforms show every line break. Inline markup
(emphasis, code spans, links) is left in the text for the renderer: a :class:`Renderer` subclass per platform.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

Align = Literal["left", "center", "right"]

_FENCE = re.compile(r"^(?P<indent> *)(?P<marker>`{3,}|~{3,})\s*(?P<info>.*)$")
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})[ \t]+(?P<text>.+?)(?:[ \t]+#+)?[ \t]*$")
_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?:[-*+]|(?P<number>\d{1,9})[.)])[ \t]+(?P<text>.*)$")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?(?P<text>.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_PIPE = re.compile(r"(?<!\\)\|")
_INLINE_MARKS = re.compile(r"\*\*|__|`")
_JUSTIFY: dict[Align, Callable[[str, int], str]] = {"left": str.ljust, "center": str.center, "right": str.rjust}


@dataclass(frozen=True, slots=True)
class _Block:
    # Blocks the source wrote on adjacent lines stay adjacent; a blank line between them stays one blank line.
    blank_before: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Paragraph(_Block):
    text: str


@dataclass(frozen=True, slots=True)
class Heading(_Block):
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Code(_Block):
    language: str  # the first word of the fence's info string; "" when there is none
    text: str


@dataclass(frozen=True, slots=True)
class Table(_Block):
    """A pipe table; the header, every row and ``align`` have the same number of cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[Align, ...]


@dataclass(frozen=True, slots=True)
class ListItem:
    text: str
    number: int | None = None  # the item's own number in a numbered list; None for a bullet
    indent: int = 0  # columns before the marker: a nested item is indented under its parent


@dataclass(frozen=True, slots=True)
class ListBlock(_Block):
    """Consecutive list items, bullets and numbered ones, at any nesting depth."""

    items: tuple[ListItem, ...]


@dataclass(frozen=True, slots=True)
class Quote(_Block):
    text: str


Block = Paragraph | Heading | Code | Table | ListBlock | Quote


def parse_blocks(markdown: str) -> list[Block]:
    """The blocks of a Markdown document, in order (``\\r\\n`` line ends are fine)."""
    return _Reader(markdown.splitlines()).read()


def aligned(table: Table) -> list[str]:
    """The table as plain-text lines in aligned columns, with a ``-+-`` rule under the header.

    Emphasis and code marks are dropped: these lines go in a code block, which would show them literally.
    """
    rows = [[_INLINE_MARKS.sub("", cell) for cell in row] for row in (table.header, *table.rows)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(table.header))]
    lines = [
        " | ".join(_JUSTIFY[how](cell, width) for cell, width, how in zip(row, widths, table.align)).rstrip()
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return lines


class Renderer(ABC):
    """Draws lesson Markdown in a platform's markup, block by block.

    What every chat platform shares is done here: paragraphs, quotes and list items on one line each, a blank
    line where the source had one, and a table as an aligned code block when it is narrow enough. A platform's
    subclass says how it draws inline markup, headings, code and a table too wide for a code block.
    """

    bullet = "-"
    table_width = 60  # the longest code-block line a phone shows without wrapping

    def render(self, markdown: str) -> str:
        parts: list[str] = []
        for block in parse_blocks(markdown):
            if parts and block.blank_before:
                parts.append("")
            parts.append(self.block(block))
        return "\n".join(parts)

    def block(self, block: Block) -> str:
        match block:
            case Paragraph(text):
                return self.inline(text)
            case Heading():
                return self.heading(block)
            case Code():
                return self.code(block)
            case Table():
                return self.table(block)
            case ListBlock(items):
                return "\n".join(f"{' ' * item.indent}{self.marker(item)} {self.inline(item.text)}" for item in items)
            case Quote(text):
                return f"> {self.inline(text)}"

    def inline(self, text: str) -> str:
        return text

    def marker(self, item: ListItem) -> str:
        return self.bullet if item.number is None else f"{item.number}."

    def heading(self, heading: Heading) -> str:
        return f"{'#' * heading.level} {self.inline(heading.text)}"

    def code(self, code: Code) -> str:
        return f"```{code.language}\n{code.text}\n```"

    def table(self, table: Table) -> str:
        lines = aligned(table)
        if max(len(line) for line in lines) <= self.table_width or not table.rows or len(table.header) < 2:
            return self.code(Code("", "\n".join(lines)))
        return self.wide_table(table)

    @abstractmethod
    def wide_table(self, table: Table) -> str:
        """A table with body rows too wide for a code block."""


@dataclass(slots=True)
class _Open:
    """A paragraph, quote or list item whose wrapped lines may still continue."""

    kind: type[Paragraph] | type[Quote] | type[ListItem]
    lines: list[str]
    blank_before: bool = False
    number: int | None = None
    indent: int = 0


class _Reader:
    """Reads lines into blocks; one instance per document."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.at = 0
        self.blocks: list[Block] = []
        self.open: _Open | None = None
        self.items: list[ListItem] = []  # the finished items of the open list
        self.list_blank_before = False
        self.blank = False  # a blank line came after the last block

    def read(self) -> list[Block]:
        while self.at < len(self.lines):
            self._line(self.lines[self.at])
        self._close()
        return self.blocks

    def _line(self, line: str) -> None:
        quote = _QUOTE.match(line)
        if not line.strip() or (quote and not quote["text"].strip()):
            self._close()
            self.blank = bool(self.blocks)
        elif fence := _FENCE.match(line):
            if fence["marker"][0] == "`" and "`" in fence["info"]:  # ```inline``` code, not a fence
                self._text(line)
            else:
                self._code(len(fence["indent"]), fence["marker"], fence["info"])
                return  # _code moved past the block
        elif self._at_table():
            self._table()
            return  # _table moved past the block
        elif heading := _HEADING.match(line):
            self._add(Heading(len(heading["hashes"]), heading["text"]))
        elif item := _ITEM.match(line):
            self._item(item)
        elif quote and not (self.open and self.open.kind is Quote):
            self._open(Quote, quote["text"].strip())
        else:
            self._text(quote["text"] if quote else line)
        self.at += 1

    def _text(self, line: str) -> None:
        """A line of text continues the open paragraph, quote or list item, else starts a paragraph."""
        if self.open:
            self.open.lines.append(line.strip())
        else:
            self._open(Paragraph, line.strip())

    def _code(self, indent: int, marker: str, info: str) -> None:
        closing = re.compile(rf"^\s*{re.escape(marker[0])}{{{len(marker)},}}\s*$")
        body: list[str] = []
        self.at += 1
        while self.at < len(self.lines) and not closing.match(self.lines[self.at]):
            line = self.lines[self.at]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            self.at += 1
        self.at += 1  # the closing fence; a fence never closed runs to the end of the document
        self._add(Code(info.split()[0] if info.strip() else "", "\n".join(body)))

    def _at_table(self) -> bool:
        """A table starts with a row of cells followed by its rule row (``|---|:-:|``)."""
        following = self.lines[self.at + 1] if self.at + 1 < len(self.lines) else ""
        return self.lines[self.at].lstrip().startswith("|") and bool(_TABLE_RULE.match(following))

    def _table(self) -> None:
        header = table_cells(self.lines[self.at])
        align: list[Align] = [_alignment(cell) for cell in table_cells(self.lines[self.at + 1])]
        self.at += 2
        rows = []
        while self.at < len(self.lines) and self.lines[self.at].lstrip().startswith("|"):
            rows.append(table_cells(self.lines[self.at]))
            self.at += 1
        width = max(len(row) for row in (header, *rows))
        align += ["left"] * (width - len(align))  # a rule row may be shorter than the widest row
        self._add(Table(_padded(header, width), tuple(_padded(row, width) for row in rows), tuple(align[:width])))

    def _item(self, item: re.Match[str]) -> None:
        if self.open and self.open.kind is ListItem:
            self._close_text()
        else:
            self._close()
            self.list_blank_before, self.blank = self.blank, False
        number = int(item["number"]) if item["number"] else None
        self.open = _Open(ListItem, [item["text"].strip()], number=number, indent=len(item["indent"].expandtabs(4)))

    def _open(self, kind: type[Paragraph] | type[Quote], text: str) -> None:
        self._close()
        self.open = _Open(kind, [text], blank_before=self.blank)
        self.blank = False

    def _add(self, block: Block) -> None:
        self._close()
        self.blocks.append(replace(block, blank_before=self.blank))
        self.blank = False

    def _close_text(self) -> None:
        if self.open is None:
            return
        text = " ".join(line for line in self.open.lines if line)
        if self.open.kind is ListItem:
            self.items.append(ListItem(text, self.open.number, self.open.indent))
        else:
            self.blocks.append(self.open.kind(text, blank_before=self.open.blank_before))
        self.open = None

    def _close(self) -> None:
        self._close_text()
        if self.items:
            self.blocks.append(ListBlock(tuple(self.items), blank_before=self.list_blank_before))
            self.items = []


def table_cells(row: str) -> list[str]:
    """A table row's cells, split at unescaped pipes, without the optional outer pipes."""
    row = row.strip()
    cells = _PIPE.split(row)
    if row.startswith("|"):
        cells = cells[1:]
    if len(cells) > 1 and row.endswith("|") and not row.endswith("\\|"):
        cells = cells[:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def _alignment(rule_cell: str) -> Align:
    left, right = rule_cell.startswith(":"), rule_cell.endswith(":")
    return "center" if left and right else "right" if right else "left"


def _padded(cells: list[str], width: int) -> tuple[str, ...]:
    return (*cells, *[""] * (width - len(cells)))
