"""TerminalSink: append-only output in a pipe, erase-and-redraw of the unsettled tail on a terminal."""

from __future__ import annotations

import io
import re

import pytest

from bot.console.terminal_sink import TerminalSink
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits

COLUMNS = 20
FINAL = "Here is code:\n```python\nprint('streaming, line by line, wraps past twenty')\n```\nDone."
# What the engine sends while streaming: a status, then growing text whose open code block it closes for display.
EDITS = [
    "Claude is busy, retrying…",
    "Here is",
    "Here is code:\n```python\nprint('str\n```",
    "Here is code:\n```python\nprint('streaming, line by line, wraps\n```",
    FINAL,
]


class Screen:
    """Just enough of a terminal to replay what the sink writes: wrapping, \\r, \\n, cursor up/right, clear."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.rows: list[list[str]] = [[]]
        self.row = self.col = 0

    def feed(self, data: str) -> None:
        for token in re.findall(r"\x1b\[\d*[A-Za-z]|.", data, re.S):
            if token == "\r":
                self.col = 0
            elif token == "\n":
                self._down()
            elif token.startswith("\x1b["):
                count, code = int(token[2:-1] or 1), token[-1]
                if code == "A":
                    self.row = max(self.row - count, 0)
                elif code == "C":
                    self.col = min(self.col + count, self.columns - 1)
                elif code == "J":
                    del self.rows[self.row][self.col :]
                    del self.rows[self.row + 1 :]
                else:
                    raise AssertionError(f"unexpected escape {token!r}")
            else:
                if self.col >= self.columns:
                    self._down()
                line = self.rows[self.row]
                line[self.col : self.col + 1] = [token]
                self.col += 1

    def _down(self) -> None:
        self.row, self.col = self.row + 1, 0
        if self.row == len(self.rows):
            self.rows.append([])

    def text(self) -> list[str]:
        return ["".join(row) for row in self.rows]


def wrapped(text: str, columns: int) -> list[str]:
    rows: list[str] = []
    for line in text.split("\n"):
        rows += [line[i : i + columns] for i in range(0, max(len(line), 1), columns)] or [""]
    return rows


async def play(sink: TerminalSink) -> None:
    message_id = await sink.post(EDITS[0])
    for text in EDITS[1:]:
        await sink.edit(message_id, text)
    sink.end()


async def test_pipe_gets_exactly_the_final_text() -> None:
    out = io.StringIO()
    await play(TerminalSink(out, tty=False))
    assert out.getvalue() == FINAL + "\n"


@pytest.mark.parametrize("columns", [20, 13, 7])
async def test_terminal_shows_each_edit_in_place(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    screen = Screen(columns)
    out = io.StringIO()
    sink = TerminalSink(out, tty=True)

    def shown() -> list[str]:
        screen.feed(out.getvalue())
        out.seek(0)
        out.truncate()
        return screen.text()

    message_id = await sink.post(EDITS[0])
    assert shown() == wrapped(EDITS[0], columns)
    for text in EDITS[1:]:
        await sink.edit(message_id, text)
        assert shown() == wrapped(text, columns)
    sink.end()
    assert shown() == [*wrapped(FINAL, columns), ""]


async def test_terminal_tail_starting_at_the_right_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "5")
    screen = Screen(5)
    out = io.StringIO()
    sink = TerminalSink(out, tty=True)
    message_id = await sink.post("abcde")
    for text in ("abcdeX", "abcdeY", "abcdeYZ"):  # "abcde" is committed; the tail starts at the edge
        await sink.edit(message_id, text)
    screen.feed(out.getvalue())
    assert screen.text() == ["abcde", "YZ"]


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
