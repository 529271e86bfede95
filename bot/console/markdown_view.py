"""Markdown as the console draws it on a terminal: rich's renderer, made safe for narrow terminals.

Two changes to ``rich.markdown.Markdown``:

* a table's columns are never narrower than their longest word, so ``BadRequestError`` is neither cut
  with an ellipsis nor broken over two lines; a screen too narrow for that gets the table one record per
  row instead (the first cell as the row's title, then a ``Header: cell`` line for each other cell), the
  way the Slack adapter draws wide tables;
* a code line too long for the screen continues on the next row under its own indentation, after a dim
  ``↪`` mark, instead of wrapping back to column 0, so the shape of the code stays readable.

Widths are counted in terminal cells (rich's ``cell_len``), so CJK, emoji and combining characters line up.
``inline`` renders one line of inline Markdown (code spans, emphasis), for quiz and test texts.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

from markdown_it import MarkdownIt
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.markdown import CodeBlock, Markdown, MarkdownElement, TableElement
from rich.measure import Measurement
from rich.padding import Padding
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text

CODE_THEME = "monokai"
CONTINUATION = "↪ "
UNBOUNDED = 1_000_000  # a width no terminal has: rich clamps a measurement to the width it is given
_INLINE = MarkdownIt("commonmark")
_INLINE_STYLES = {"code_inline": "markdown.code", "strong": "bold", "em": "italic", "s": "strike"}


class _NarrowSafeTable(TableElement):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        header = [cell.content for cell in self.header.row.cells] if self.header and self.header.row else []
        rows = [[cell.content for cell in row.cells] for row in self.body.rows] if self.body else []
        for cell in [*header, *(cell for row in rows for cell in row)]:
            cell.overflow = "fold"  # a word wider than the whole screen still shows whole
        table = next(iter(super().__rich_console__(console, options)))
        # rich narrows the widest column first, below its longest word if need be: so the widths are set here.
        unbounded = options.update_width(UNBOUNDED)
        measures = [Measurement.get(console, unbounded, Group(*cells))
                    for cells in itertools.zip_longest(header, *rows, fillvalue=Text())]
        least, most = [m.minimum for m in measures], [m.maximum for m in measures]
        overhead = Measurement.get(console, unbounded, table).minimum - sum(least)  # padding and rules
        widths = column_widths(least, most, options.max_width - overhead)
        if widths is None:
            yield records(header, rows)
            return
        for column, width in zip(table.columns, widths, strict=True):
            column.width = width
        yield table


def column_widths(least: list[int], most: list[int], room: int) -> list[int] | None:
    """Column widths within ``room`` cells: each at least its longest word (``least``), the spare room shared
    in proportion to what each column still wants to reach ``most``. ``None`` when the words alone do not fit."""
    if sum(most) <= room:
        return most
    spare = room - sum(least)
    if spare < 0:
        return None
    wants = [high - low for low, high in zip(least, most, strict=True)]
    return [low + spare * want // sum(wants) for low, want in zip(least, wants, strict=True)]


def records(header: list[Text], rows: list[list[Text]]) -> Group:
    """A table as one record per row: "• first cell", then "Header: cell" under it for each other cell."""
    parts: list[Padding | Text] = []
    for row in rows:
        if parts:
            parts.append(Text())
        parts.append(Text.assemble("• ", row[0] if row else "", style="bold"))
        for name, cell in zip(header[1:], row[1:], strict=False):
            field = Text.assemble((f"{name.plain}: ", "markdown.table.header"), cell)
            field.overflow = "fold"
            parts.append(Padding(field, (0, 0, 0, 2)))
    return Group(*parts)


class _HangingCode(CodeBlock):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        syntax = Syntax(code, self.lexer_name, theme=self.theme)
        background = syntax.get_theme(self.theme).get_background_style()
        width = max(options.max_width - 2, 8)  # one cell of padding on each side
        rows: list[Text] = []
        for line in syntax.highlight(code).split("\n", allow_blank=True):
            rows += hanging(line, width)
        body = Text("\n").join(rows)
        body.no_wrap = True
        yield Padding(body, (1, 1), style=background, expand=True)


def hanging(line: Text, width: int) -> list[Text]:
    """``line`` cut into rows of at most ``width`` cells; each continuation starts under the line's indent."""
    if cell_len(line.plain) <= width:
        return [line]
    indent = len(line.plain) - len(line.plain.lstrip(" "))
    prefix = Text(" " * min(indent, width // 2)) + Text(CONTINUATION, style=Style(dim=True))
    rows: list[Text] = []
    rest, room = line, width
    while cell_len(rest.plain) > room:
        cut = _cut(rest.plain, room)
        head, rest = rest.divide([cut])
        rows.append(head if not rows else prefix + head)
        room = max(width - prefix.cell_len, 1)
    rows.append(rest if not rows else prefix + rest)
    return rows


def _cut(text: str, cells: int) -> int:
    """Where to end a row of at most ``cells`` cells: after a space in its second half, else where it is full."""
    used, fits = 0, len(text)
    for offset, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            fits = max(offset, 1)
            break
    space = text.rfind(" ", 0, fits)
    return space + 1 if space >= fits // 2 and text[:space].strip() else fits


class TerminalMarkdown(Markdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements, "table_open": _NarrowSafeTable, "fence": _HangingCode, "code_block": _HangingCode,
    }

    def __init__(self, markup: str) -> None:
        super().__init__(markup, code_theme=CODE_THEME)


def inline(markdown: str, style: str = "") -> Text:
    """One line of inline Markdown as styled text: code spans in the code style, no backticks left."""
    text = Text(style=style)
    styles: list[str] = []
    for block in _INLINE.parseInline(markdown):
        for token in block.children or ():
            if token.type == "code_inline":
                text.append(token.content, style=" ".join([*styles, _INLINE_STYLES["code_inline"]]))
            elif token.type.endswith("_open") and token.type[:-5] in _INLINE_STYLES:
                styles.append(_INLINE_STYLES[token.type[:-5]])
            elif token.type.endswith("_close") and token.type[:-6] in _INLINE_STYLES and styles:
                styles.pop()
            elif token.type in ("softbreak", "hardbreak"):
                text.append(" ")
            else:
                text.append(token.content, style=" ".join(styles))
    return text
