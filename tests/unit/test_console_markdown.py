"""Markdown on a narrow terminal: tables wrap instead of being cut, code continues under its indent."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from bot.console.markdown_view import CONTINUATION, TerminalMarkdown, column_widths, hanging, inline

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TABLE = """| # | What your code sees |
|---|---|
| 1 | BadRequestError, AuthenticationError, PermissionDeniedError |
"""
WIDE = """| When | What happens | What your code sees | Retried? |
|---|---|---|---|
| Before the first byte | 400 / 401 | `BadRequestError`, `AuthenticationError` | No |
| Mid-stream | Connection dropped | The HTTP library's `RemoteProtocolError` | No |
"""
CODE = """```python
def handler(request):
    response = client.messages.create(model="claude", max_tokens=200, messages=[{"role": "user"}])
```"""


def rows(markdown: str, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system=None).print(TerminalMarkdown(markdown))
    return [ANSI.sub("", row).rstrip() for row in out.getvalue().splitlines()]


@pytest.mark.parametrize("width", [60, 40, 30])
def test_table_cells_fold_long_words_instead_of_cutting_them(width: int) -> None:
    shown = rows(TABLE, width)
    assert "…" not in "".join(shown)
    body = "".join(row.replace(" ", "") for row in shown[shown.index(next(r for r in shown if "─" in r)) + 1 :])
    assert body == "1BadRequestError,AuthenticationError,PermissionDeniedError"  # all there, in order
    assert all(cell_len(row) <= width for row in shown)


@pytest.mark.parametrize("width", [120, 60])
def test_table_columns_are_never_narrower_than_their_longest_word(width: int) -> None:
    shown = rows(WIDE, width)

    words = {word for row in shown for word in row.split()}
    assert {"BadRequestError,", "AuthenticationError", "RemoteProtocolError", "Retried?"} <= words
    assert all(cell_len(row) <= width for row in shown)


def test_a_table_too_narrow_for_its_words_becomes_one_record_per_row() -> None:
    assert [row for row in rows(WIDE, 40) if row] == [
        "• Before the first byte",
        "  What happens: 400 / 401",
        "  What your code sees: BadRequestError,",
        "  AuthenticationError",
        "  Retried?: No",
        "• Mid-stream",
        "  What happens: Connection dropped",
        "  What your code sees: The HTTP",
        "  library's RemoteProtocolError",
        "  Retried?: No",
    ]


@pytest.mark.parametrize(
    ("least", "most", "room", "widths"),
    [
        ([4, 6], [10, 20], 40, [10, 20]),  # everything fits on one line
        ([4, 6], [10, 20], 20, [7, 13]),  # the 10 spare cells shared as the columns want more: 6 to 14
        ([4, 6], [10, 20], 10, [4, 6]),  # just the longest words
        ([4, 6], [10, 20], 9, None),  # not even those: records
    ],
)
def test_column_widths(least: list[int], most: list[int], room: int, widths: list[int] | None) -> None:
    assert column_widths(least, most, room) == widths


@pytest.mark.parametrize("width", [60, 40])
def test_a_long_code_line_continues_under_its_indent(width: int) -> None:
    shown = [row for row in rows(CODE, width) if row.strip()]
    continued = [row for row in shown if CONTINUATION.strip() in row]
    assert continued, shown
    assert all(row.startswith("     ") for row in continued)  # under "    response", never column 0-1
    assert all(cell_len(row) <= width for row in shown)
    code = "".join(row.strip().removeprefix(CONTINUATION.strip()).strip() for row in shown[1:])
    assert code.replace(" ", "") == CODE.splitlines()[2].replace(" ", "")  # nothing lost


def test_hanging_counts_cells_of_wide_characters() -> None:
    parts = hanging(Text("  x = '日本語のテキスト中文字符한국어'"), 16)
    assert all(part.cell_len <= 16 for part in parts)
    joined = "".join(part.plain.replace(CONTINUATION, "") for part in parts).replace(" ", "")
    assert len(parts) > 1 and joined == "x='日本語のテキスト中文字符한국어'"


def test_inline_code_is_styled_and_loses_its_backticks() -> None:
    text = inline("entering it with `with` gives you a **MessageStream**")
    assert text.plain == "entering it with with gives you a MessageStream"
    styles = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert styles["with"] == "markdown.code" and styles["MessageStream"] == "bold"
