"""A ``MessageSink`` that writes a streaming answer to a terminal or a pipe, append-only.

The engine sends the whole text of a message on every edit, and the end of that text may still change:
the retry status is replaced by the answer, a code block closed for display is reopened by the next
tokens. So the sink prints for good only the part two successive edits agree on (the *committed* text,
which only grows), and treats the rest as a *tail*:

* on a terminal the tail is drawn after the committed text and erased (ANSI cursor moves, no screen
  clearing) before the next edit draws the new one, so the learner sees every token as it arrives;
* in a pipe the tail is not printed; ``end()`` prints the final one. Piped output is therefore exactly
  the final text, with no escape codes and nothing printed twice.

Build the ``ProgressiveMessage`` with ``cursor=""``: a terminal needs no streaming marker.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from typing import TextIO

CLEAR_TO_END = "\x1b[0J"


class TerminalSink:
    """One conversation in a terminal: each message is printed below the previous one."""

    limit = 1_000_000  # a terminal has no message size limit: an answer stays one message
    bucket = "console"

    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._tty = self._out.isatty() if tty is None else tty
        self._ids = itertools.count(1)
        self._current = ""  # id of the message being written (the last one posted)
        self._latest = ""  # its latest text
        self._committed = ""  # the part of it printed for good
        self._tail = ""  # what is drawn after the committed text (terminal only)

    async def post(self, text: str) -> str:
        if self._current:
            self.end()
            self._write("\n")
        self._current = str(next(self._ids))
        self._latest = self._committed = self._tail = ""
        self._show(text)
        return self._current

    async def edit(self, message_id: str, text: str) -> None:
        if message_id != self._current:
            raise ValueError(f"message {message_id} is no longer the last one; a terminal cannot edit it")
        self._show(text)

    def end(self) -> None:
        """Print the rest of the current message and a newline (call once the answer is finished)."""
        if not self._current:
            return
        self._erase_tail()
        self._commit(self._latest)
        if self._committed and not self._committed.endswith("\n"):
            self._write("\n")
        self._current = ""

    def _show(self, text: str) -> None:
        agreed = os.path.commonprefix([self._latest, text])
        self._latest = text
        self._erase_tail()
        if len(agreed) >= len(self._committed):
            self._commit(agreed)
        if self._tty:
            self._tail = text[len(self._committed) :] if text.startswith(self._committed) else ""
            self._write(self._tail)

    def _commit(self, text: str) -> None:
        if text.startswith(self._committed):
            self._write(text[len(self._committed) :])
        else:  # the text changed above what is printed for good: carry on below it
            self._write("\n" + text)
        self._committed = text

    def _erase_tail(self) -> None:
        """Move the cursor back to where the tail starts and clear from there to the end of the screen.

        Terminals wrap lazily: after a character in the last column the cursor waits at the edge, and only
        the next character moves it to a new row. Columns here count the same way (``columns`` = waiting).
        """
        if not self._tail:
            return
        columns = max(shutil.get_terminal_size().columns, 1)
        line = len(self._committed) - (self._committed.rfind("\n") + 1)
        start = (line - 1) % columns + 1 if line else 0
        column, rows = start, 0
        for char in self._tail:
            if char == "\n":
                column, rows = 0, rows + 1
            else:
                if column >= columns:
                    column, rows = 0, rows + 1
                column += 1
        redraw = ""
        if start == columns:  # clearing from the edge would keep the wait: clear the last cell and redraw it
            start, redraw = columns - 1, self._committed[-1]
        up = f"\x1b[{rows}A" if rows else ""
        right = f"\x1b[{start}C" if start else ""
        self._write("\r" + up + right + CLEAR_TO_END + redraw)
        self._tail = ""

    def _write(self, data: str) -> None:
        if data:
            self._out.write(data)
            self._out.flush()
