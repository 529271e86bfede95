"""What the console's commands share: who the learner is, Ctrl-C as a Stop button, and the terminal itself."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import sys
import termios
from collections.abc import Iterator
from typing import TextIO

from bot.console.terminal_sink import TerminalSink
from bot.core.store.base import LearnerRef
from bot.core.streaming.engine import ProgressiveMessage


def console_learner() -> LearnerRef:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        name = "learner"
    return LearnerRef(platform="console", workspace="local", user_id=name, display_name=name)


@contextlib.contextmanager
def stop_on_interrupt(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C stops the answer (the text so far is kept) instead of killing the process."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


class AnswerMessage(ProgressiveMessage):
    """A message that shows only the answer; its notice and footer are kept for the caller to show apart.

    ``coursebot ask`` prints them on stderr (stdout is the answer alone); the console styles them.
    """

    text = ""
    notice = ""
    footer = ""

    async def finish(self, text: str, *, notice: str = "", footer: str = "") -> list[str]:
        self.text, self.notice, self.footer = text, notice, footer
        return await super().finish(text)

    def close(self, sink: TerminalSink) -> None:
        """End the answer in ``sink``: its text, or nothing at all when it has none."""
        if self.text:
            sink.end()
        else:
            sink.discard()


@contextlib.contextmanager
def quiet_keyboard(stream: TextIO | None = None) -> Iterator[None]:
    """While an answer streams, keys typed are not echoed, and they are thrown away when it ends.

    Without this a line typed during an answer is drawn into it and then sent as the next question.
    """
    stream = stream or sys.stdin
    if not stream.isatty():
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHONL)  # lflags; ISIG stays on, so Ctrl-C still stops the answer
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcflush(fd, termios.TCIFLUSH)
        termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def terminal_foreground(stream: TextIO | None = None) -> Iterator[None]:
    """Own the terminal's foreground while the console runs, so that Ctrl-C reaches coursebot alone.

    Started by ``make run`` (or any parent in the same process group), the console would share Ctrl-C's
    SIGINT with its parent: make would die, and the console's exit status would turn to 130. So the console
    becomes its own process group, makes it the foreground one, and gives the terminal back at exit.
    """
    stream = stream or sys.stdin
    previous = _take_foreground(stream.fileno()) if stream.isatty() else None
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(OSError):
                _hand_terminal(stream.fileno(), previous)


def _take_foreground(fd: int) -> int | None:
    """Become the foreground process group of terminal ``fd``; the group to give it back to, or None."""
    if os.getpid() == os.getsid(0):  # a session leader (e.g. under pexpect) already leads its own group
        return None
    try:
        previous = os.tcgetpgrp(fd)
        if previous != os.getpgrp():  # started in the background: the terminal is not ours to take
            return None
        os.setpgid(0, 0)
        try:
            _hand_terminal(fd, os.getpgrp())
        except OSError:
            os.setpgid(0, previous)  # back into the foreground group, or the terminal would stop us
            raise
    except OSError:  # not allowed here (no job control): run as we are
        return None
    return previous


def _hand_terminal(fd: int, group: int) -> None:
    # A process outside the foreground group gets SIGTTOU (and stops) when it sets the foreground: ignore it.
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, group)
    finally:
        signal.signal(signal.SIGTTOU, old)
