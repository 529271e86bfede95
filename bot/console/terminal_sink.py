"""A ``MessageSink`` that writes a streaming answer to a terminal (rendered Markdown) or a pipe (the text).

The engine sends the whole text of a message on every edit, and the end of that text may still change:
the retry status is replaced by the answer, a code block closed for display is reopened by the next
tokens. So the sink prints for good only what two successive edits agree on, and redraws the rest:

* on a terminal the answer is rendered Markdown (``TerminalMarkdown``: wrapped by display width, tables and
  code safe on narrow terminals). Each finished block (one followed by a blank line and the start of the
  next, outside code) is printed for good; the block still growing is the *live tail*, rendered again on
  every edit after erasing the previous drawing. The tail is kept shorter than the screen, so that erasing
  it (cursor up, clear to the end) never has to reach a row that has scrolled away; the whole block is
  printed once it is finished. Every drawn line ends with a newline, so the rows to erase are counted
  exactly, whatever the characters' widths;
* in a pipe nothing is rendered: the text the edits agree on is appended as it arrives and ``end()`` prints
  the rest, so piped output is exactly the final text, with no escape codes and nothing printed twice.

Build the ``ProgressiveMessage`` with ``cursor=""``: a terminal needs no streaming marker.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
from typing import TextIO

from rich.console import Console

from bot.console.markdown_view import TerminalMarkdown

CLEAR_TO_END = "\x1b[0J"
_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class TerminalSink:
    """One conversation in a terminal: each message is printed below the previous one."""

    limit = 1_000_000  # a terminal has no message size limit: an answer stays one message
    bucket = "console"

    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._tty = self._out.isatty() if tty is None else tty
        self._console = Console(file=self._out, force_terminal=True, highlight=False, markup=False, emoji=False)
        self._ids = itertools.count(1)
        self._current = ""  # id of the message being written (the last one posted)
        self._latest = ""  # its latest text
        self._committed = ""  # the part of it printed for good (source text)
        self._tail_rows = 0  # rows of the live tail on screen (terminal only)

    async def post(self, text: str, *, final: bool = False) -> str:
        if self._current:
            self.end()
            self._write("\n")
        self._current = str(next(self._ids))
        self._latest = self._committed = ""
        self._show(text)
        return self._current

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        if message_id != self._current:
            raise ValueError(f"message {message_id} is no longer the last one; a terminal cannot edit it")
        self._show(text)

    def end(self) -> None:
        """Print the rest of the current message and end its line (call once the answer is finished)."""
        if not self._current:
            return
        if self._tty:
            self._erase_tail()
            self._print_blocks(self._latest, self._latest)
        else:
            self._append(self._latest)
            if self._committed and not self._committed.endswith("\n"):
                self._write("\n")
        self._current = ""

    def discard(self) -> None:
        """End the current message without printing the rest: for an answer that has no text after all
        (the engine shows a placeholder, which a terminal has no need of)."""
        if self._tty:
            self._erase_tail()
        self._current = ""

    def _show(self, text: str) -> None:
        agreed = os.path.commonprefix([self._latest, text])
        self._latest = text
        if not self._tty:
            if len(agreed) >= len(self._committed):
                self._append(agreed)
            return
        self._erase_tail()
        self._print_blocks(text, text[: finished_blocks(agreed)])
        rest = text[len(self._committed) :]
        gap = int(bool(self._committed.strip() and rest.strip()))  # the blank line between blocks
        self._write("\n" * gap)
        self._tail_rows = gap + self._draw(rest, tail=True)

    # -- pipe ---------------------------------------------------------------------------------------

    def _append(self, text: str) -> None:
        if text.startswith(self._committed):
            self._write(text[len(self._committed) :])
        else:  # the text changed above what is printed for good: carry on below it
            self._write("\n" + text)
        self._committed = text

    # -- terminal -----------------------------------------------------------------------------------

    def _print_blocks(self, text: str, upto: str) -> None:
        """Print for good the blocks of ``text`` up to the end of ``upto`` that are not printed yet."""
        if not text.startswith(self._committed):  # changed above what is printed: start again below it
            self._committed = ""
        if len(upto) <= len(self._committed) or not upto[len(self._committed) :].strip():
            return
        if self._committed.strip():
            self._write("\n")  # the blank line between blocks
        self._draw(upto[len(self._committed) :], tail=False)
        self._committed = upto

    def _draw(self, markdown: str, *, tail: bool) -> int:
        """Render ``markdown`` below the cursor; return the rows drawn. A tail is cut to its last rows."""
        lines = self._render(markdown)
        if tail:
            lines = lines[-max(shutil.get_terminal_size().lines - 2, 1) :]
        self._write("".join(f"{line}\n" for line in lines))
        return len(lines)

    def _render(self, markdown: str) -> list[str]:
        """The rendered lines, block by block with one blank line between: the same whether the blocks
        are printed one at a time while streaming or together at the end."""
        width = max(shutil.get_terminal_size().columns, 8)
        cuts = [0, *block_starts(markdown), len(markdown)]
        lines: list[str] = []
        for start, end in itertools.pairwise(cuts):
            with self._console.capture() as captured:
                self._console.print(TerminalMarkdown(markdown[start:end]), width=width)
            # rich pads each line with spaces to the full width; a terminal that counts one character wider
            # than rich does (an emoji with a skin-tone modifier) would wrap that padding onto a row of its
            # own, and the tail's row count would be off. So the padding goes (a styled background stays).
            block = [line.rstrip(" ") for line in captured.get().split("\n")]
            while block and not _visible(block[-1]):
                block.pop()
            while block and not _visible(block[0]):
                block.pop(0)
            if block:
                lines += [""] * bool(lines) + block
        return lines

    def _erase_tail(self) -> None:
        if self._tail_rows:
            self._write(f"\r\x1b[{self._tail_rows}A{CLEAR_TO_END}")
            self._tail_rows = 0

    def _write(self, data: str) -> None:
        if data:
            self._out.write(data)
            self._out.flush()


def _visible(line: str) -> bool:
    return bool(_ESCAPE.sub("", line).strip())


def finished_blocks(text: str) -> int:
    """The length of the longest prefix of ``text`` made of finished Markdown blocks (0 if none)."""
    return max(block_starts(text), default=0)


def block_starts(text: str) -> list[int]:
    """Where a new block starts after a finished one: after a blank line outside code, at the margin.

    An indented line could still belong to a list item above, so it does not start a block.
    """
    starts: list[int] = []
    offset = 0
    fence = ""  # the marker of the code block the line is in
    blank = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = ""
        else:
            if stripped and blank and line[0] not in " \t":
                starts.append(offset)
            opening = _FENCE.match(line)
            if opening and not (opening[1][0] == "`" and "`" in stripped[len(opening[1]) :]):  # not ```inline```
                fence = opening[1]
            blank = not stripped
        offset += len(line)
    return starts
