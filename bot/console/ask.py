"""``coursebot ask``: one question to a lab's assistant, the answer streamed to stdout.

Exit codes: 0 the answer is complete; 3 it is partial or was stopped (Ctrl-C stops it and keeps the text);
2 nothing was answered (no ANTHROPIC_API_KEY, bad content, unknown lab, or Claude failed before any text).
Problems go to stderr; the answer, its notice and footer to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
import sys
import uuid
from collections.abc import Iterator

from bot.config import Settings
from bot.console.terminal_sink import TerminalSink
from bot.core.content.loader import ContentError, load_course
from bot.core.course import CourseError, CourseService
from bot.core.labs import LabAssistant
from bot.core.store.base import LearnerRef
from bot.core.store.sqlite import SQLiteStore
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.logs import setup_logging

EXIT_COMPLETE = 0
EXIT_FAILED = 2
EXIT_PARTIAL = 3

NO_KEY_MESSAGE = (
    "ANTHROPIC_API_KEY is not set, so the lab assistant cannot answer.\n"
    "Set it for this shell (export ANTHROPIC_API_KEY=sk-ant-...) or add the line ANTHROPIC_API_KEY=... "
    "to the .env file, then run the command again."
)


async def run_ask(settings: Settings, *, lab: int, module: int | None, question: str) -> int:
    """Ask lab ``lab`` of ``module`` (default: the course's) one question; return the exit code."""
    setup_logging(settings.log_level)
    if not settings.claude_enabled:
        print(NO_KEY_MESSAGE, file=sys.stderr)
        return EXIT_FAILED
    try:
        content = load_course(settings.content)
    except ContentError as exc:
        print(f"The course content in {settings.content} has errors:\n{exc}", file=sys.stderr)
        return EXIT_FAILED

    store = SQLiteStore(settings.db)
    await store.open()
    try:
        course = CourseService(content, store)
        assistant = LabAssistant.from_settings(settings, course)
        try:
            return await _ask(course, assistant, lab=lab, module=module, question=question)
        finally:
            await assistant.close()
    finally:
        await store.close()


async def _ask(course: CourseService, assistant: LabAssistant, *, lab: int, module: int | None, question: str) -> int:
    key = f"ask:{uuid.uuid4().hex}"
    try:
        thread = await course.open_lab(_console_learner(), lab, "console", key, module)
    except CourseError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED

    sink = TerminalSink(sys.stdout)
    message = ProgressiveMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None)), cursor="")
    stop = asyncio.Event()
    with _stop_on_interrupt(stop):
        try:
            outcome = await assistant.ask(thread, question, event_id=key, message=message, stop=stop)
        except CourseError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        finally:
            sink.end()
    if outcome.turn.status == "complete":
        return EXIT_COMPLETE
    if outcome.turn.status == "failed":
        print(f"No answer: {outcome.turn.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PARTIAL


def _console_learner() -> LearnerRef:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        name = "learner"
    return LearnerRef(platform="console", workspace="local", user_id=name, display_name=name)


@contextlib.contextmanager
def _stop_on_interrupt(stop: asyncio.Event) -> Iterator[None]:
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
