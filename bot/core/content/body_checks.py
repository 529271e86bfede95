"""Problems in a lesson's Markdown body that would otherwise surface only on screen or in the test suite.

A pipe table whose rows disagree on their cells is drawn with empty or shifted columns, and a table without
its rule row (``|---|---|``) is not a table at all; a ``python`` block that does not compile would teach code
that cannot run. Both are reported at the file line where the author can fix them.
"""

from __future__ import annotations

import re

from bot.core.content.markdown import table_cells

_FENCE = re.compile(r" {0,3}(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_TABLE_RULE = re.compile(r"\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*")
_PYTHON = ("python", "py", "python3")

Problem = tuple[int, str]


def body_problems(body: str, first_line: int) -> list[Problem]:
    """Malformed tables and ``python`` blocks that do not compile; ``first_line`` is the file line of ``body``."""
    problems: list[Problem] = []
    table: list[tuple[int, str]] = []
    fence: str | None = None  # the opening marker while inside a code block
    language, code_line, code = "", 0, []
    for number, line in enumerate(body.splitlines(), start=first_line):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening["marker"].startswith(fence) and not opening["info"].strip():
                if language in _PYTHON:
                    problems += _python_problems("\n".join(code), code_line)
                fence = None
            else:
                code.append(line)
            continue
        if line.lstrip().startswith("|"):
            table.append((number, line))
            continue
        problems += _table_problems(table)
        table = []
        if opening:
            fence, code_line, code = opening["marker"], number + 1, []
            language = (opening["info"].split() or [""])[0].lower()
    return problems + _table_problems(table)


def _python_problems(code: str, first_line: int) -> list[Problem]:
    try:
        compile(code, "<lesson>", "exec", dont_inherit=True)
    except SyntaxError as error:
        line = first_line + (error.lineno or 1) - 1
        return [(line, f"this python block does not compile: {error.msg}")]
    except ValueError as error:  # a NUL character in the code
        return [(first_line, f"this python block does not compile: {error}")]
    return []


def _table_problems(rows: list[tuple[int, str]]) -> list[Problem]:
    """A table is a header row, a rule row with one ``---`` per column, then rows with as many cells."""
    if not rows:
        return []
    header_line, header = rows[0]
    columns = len(table_cells(header))
    if len(rows) < 2 or not _TABLE_RULE.fullmatch(rows[1][1]):
        line = rows[1][0] if len(rows) > 1 else header_line
        return [(line, "a table needs a rule row such as |---|---| right under its header row")]
    problems = []
    for line, row in rows[1:]:
        cells = len(table_cells(row))
        if cells != columns:
            what = "the rule row" if line == rows[1][0] else "this table row"
            problems.append(
                (line, f"{what} has {cells} cells but the header has {columns}; write '\\|' for a pipe inside a cell")
            )
    return problems


