"""``coursebot ask``: one question to a lab's assistant, the answer streamed to stdout.

Exit codes: 0 the answer is complete; 3 it is partial or was stopped (Ctrl-C stops it and keeps the text);
2 nothing was answered (no ANTHROPIC_API_KEY, bad content, unknown lab, or Claude failed before any text).
Only the answer goes to stdout (``coursebot ask ... > answer.md`` saves just the answer); its notice (stopped,
cut off), its footer (timing, tokens), warnings and problems go to stderr.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from bot.config import Settings
from bot.console.session import AnswerMessage, console_learner, stop_on_interrupt
from bot.console.terminal_sink import TerminalSink
from bot.core.content.loader import ContentError
from bot.core.course import CourseError, CourseService
from bot.core.labs import LabAssistant
from bot.core.store.base import StoreError
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.logs import secret_values, setup_logging
from bot.runtime import Runtime

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
    setup_logging(settings.log_level, secret_values(settings.anthropic_api_key))
    if not settings.claude_enabled:
        print(NO_KEY_MESSAGE, file=sys.stderr)
        return EXIT_FAILED
    try:
        runtime = await Runtime.start(settings)
    except ContentError as exc:
        print(f"The course content in {settings.content} has errors:\n{exc}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreError, OSError) as exc:
        print(f"Cannot open the database: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        assert runtime.labs is not None  # a key is set
        return await _ask(runtime.course, runtime.labs, lab=lab, module=module, question=question)
    finally:
        await runtime.close()


async def _ask(course: CourseService, assistant: LabAssistant, *, lab: int, module: int | None, question: str) -> int:
    key = f"ask:{uuid.uuid4().hex}"
    try:
        thread = await course.open_lab(console_learner(), lab, "console", key, module)
    except CourseError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED

    sink = TerminalSink(sys.stdout)
    message = AnswerMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None)), cursor="")
    stop = asyncio.Event()
    with stop_on_interrupt(stop):
        try:
            outcome = await assistant.ask(thread, question, event_id=key, message=message, stop=stop)
        except CourseError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        finally:
            message.close(sink)
    for part in (message.notice, message.footer):
        if part:
            print(part, file=sys.stderr)
    if outcome.turn.status == "complete":
        return EXIT_COMPLETE
    if outcome.turn.status == "failed":
        print(f"No answer: {outcome.turn.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_PARTIAL
