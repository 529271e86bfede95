"""What the console's commands share: who the learner is, and Ctrl-C as a Stop button."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
from collections.abc import Iterator

from bot.core.store.base import LearnerRef


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
