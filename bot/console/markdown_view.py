"""Markdown as the console draws it on a terminal: rich's renderer, made safe for narrow terminals.

Two changes to ``rich.markdown.Markdown``:

* table cells fold a word too long for its column onto the next line (``BadRequestError`` stays whole,
  over two lines) instead of cutting it with an ellipsis;
* a code line too long for the screen continues on the next row under its own indentation, after a dim
  ``↪`` mark, instead of wrapping back to column 0, so the shape of the code stays readable.

Widths are counted in terminal cells (rich's ``cell_len``), so CJK, emoji and combining characters line up.
``inline`` renders one line of inline Markdown (code spans, emphasis), for quiz and test texts.
"""

from __future__ import annotations

from typing import ClassVar

from markdown_it import MarkdownIt
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Markdown, MarkdownElement, TableDataElement, TableElement
from rich.padding import Padding
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text

CODE_THEME = "monokai"
CONTINUATION = "↪ "
_INLINE = MarkdownIt("commonmark")
_INLINE_STYLES = {"code_inline": "markdown.code", "strong": "bold", "em": "italic", "s": "strike"}


class _FoldingTable(TableElement):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cells: list[TableDataElement] = []
        if self.header is not None and self.header.row is not None:
            cells += self.header.row.cells
        if self.body is not None:
            cells += [cell for row in self.body.rows for cell in row.cells]
        for cell in cells:
            cell.content.overflow = "fold"
        yield from super().__rich_console__(console, options)


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
        **Markdown.elements, "table_open": _FoldingTable, "fence": _HangingCode, "code_block": _HangingCode,
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
