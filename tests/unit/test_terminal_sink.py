"""TerminalSink: the exact text in a pipe; on a terminal, rendered Markdown redrawn in place (read with pyte)."""

from __future__ import annotations

import io
import re

import pyte
import pytest

from bot.console.terminal_sink import TerminalSink, finished_blocks
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits

FINAL = (
    "## Heading\n\nHere is **code**:\n\n```python\nprint('streaming, line by line, wraps past the edge')\n```\n\n"
    "CJK 日本語のテキスト and emoji 🚀🔥 👍🏽 keep their width.\n\nDone."
)
# What the engine sends while streaming: a status, then growing text whose open code block it closes for display.
EDITS = [
    "Claude is busy, retrying…",
    "## Heading\n\nHere is",
    "## Heading\n\nHere is **code**:\n\n```python\nprint('str\n```",
    "## Heading\n\nHere is **code**:\n\n```python\nprint('streaming, line by line, wraps\n```",
    *[FINAL[:end] for end in range(90, len(FINAL), 9)],
    FINAL,
]


class Terminal:
    """A pyte screen fed with what the sink writes (the pty turns \\n into \\r\\n)."""

    def __init__(self, columns: int, rows: int = 40) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.Stream(self.screen)
        self.out = io.StringIO()

    def rows(self) -> list[str]:
        self.stream.feed(self.out.getvalue().replace("\n", "\r\n"))
        self.out.seek(0)
        self.out.truncate()
        rows = [row.rstrip() for row in self.screen.display]
        while rows and not rows[-1]:
            rows.pop()
        return rows


async def rendered(text: str, columns: int) -> list[str]:
    """What a fresh sink prints for ``text`` as a whole finished message: the reference for every redraw."""
    terminal = Terminal(columns)
    sink = TerminalSink(terminal.out, tty=True)
    await sink.post(text)
    sink.end()
    return terminal.rows()


async def test_pipe_gets_exactly_the_final_text() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, tty=False)
    message_id = await sink.post(EDITS[0])
    for text in EDITS[1:]:
        await sink.edit(message_id, text)
    sink.end()
    assert out.getvalue() == FINAL + "\n"


@pytest.mark.parametrize("columns", [60, 30, 16])
async def test_terminal_redraws_each_edit_in_place(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", "40")
    terminal = Terminal(columns)
    sink = TerminalSink(terminal.out, tty=True)

    message_id = await sink.post(EDITS[0])
    assert terminal.rows() == await rendered(EDITS[0], columns)
    for text in EDITS[1:]:
        await sink.edit(message_id, text)
        assert terminal.rows() == await rendered(text, columns)  # no leftovers of the previous drawing
    sink.end()
    final = terminal.rows()
    assert final == await rendered(FINAL, columns)
    assert "##" not in "".join(final) and "**" not in "".join(final)
    assert all(len(row) <= columns for row in final)


async def test_a_tail_taller_than_the_screen_is_drawn_by_its_last_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "10")
    terminal = Terminal(40, rows=10)
    sink = TerminalSink(terminal.out, tty=True)
    code = "\n".join(f"line_{n} = {n}" for n in range(30))
    message_id = await sink.post(f"```python\n{code[:200]}\n```")
    await sink.edit(message_id, f"```python\n{code}\n```")
    rows = terminal.rows()
    assert len(rows) <= 8 and "line_29 = 29" in rows[-1]  # the newest rows fit, under the prompt's row
    assert "line_0 = 0" not in "\n".join(rows)
    sink.end()
    printed = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", terminal.out.getvalue())  # the whole block, for good
    assert "line_0 = 0" in printed and "line_29 = 29" in printed


def test_blocks_finish_at_a_blank_line_outside_code() -> None:
    assert finished_blocks("one\n\ntw") == len("one\n\n")
    assert finished_blocks("one\n\n") == 0  # the next block has not begun
    assert finished_blocks("```\na\n\nb") == 0  # a blank line inside code
    assert finished_blocks("```\na\n```\n\nnext") == len("```\na\n```\n\n")
    assert finished_blocks("- item\n\n  more of the item") == 0  # indented: still the list item


async def test_a_second_message_starts_on_a_new_line() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, tty=False)
    first = await sink.post("one")
    await sink.edit(first, "one two")
    await sink.post("three")
    sink.end()
    assert out.getvalue() == "one two\n\nthree\n"
    with pytest.raises(ValueError):
        await sink.edit(first, "changed")


async def test_with_the_engine_a_pipe_gets_the_answer_notice_and_footer() -> None:
    out = io.StringIO()
    sink = TerminalSink(out, tty=False)
    message = ProgressiveMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None)), cursor="")
    message.status("Claude is busy, retrying…")
    for end in range(1, len(FINAL) + 1, 7):
        message.update(FINAL[:end])
    await message.finish(FINAL, notice="⏹️ Stopped.", footer="TTFT 0.10 s · 3 tokens · 30 tok/s")
    sink.end()
    assert out.getvalue() == f"{FINAL}\n\n⏹️ Stopped.\n\nTTFT 0.10 s · 3 tokens · 30 tok/s\n"
