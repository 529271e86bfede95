"""What every adapter shares in one process: settings, the course service and the lab assistant."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.store.base import Store
from bot.core.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from bot.core.labs import LabAssistant, LabConfig
    from bot.core.recovery import Reconciler


@dataclass
class Runtime:
    settings: Settings
    course: CourseService
    labs: LabAssistant | None  # None when ANTHROPIC_API_KEY is not set
    recovery: Reconciler | None = None  # with labs: repairs answers cut by a process that stopped

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Load and validate the content, open (and migrate) the database, build the Claude client.

        The anthropic SDK is imported only when a key is set: it is most of the start-up time.
        """
        content = load_course(settings.content)
        store: Store = SQLiteStore(settings.db)
        await store.open()
        try:
            course = CourseService(content, store)
            labs = recovery = None
            if settings.anthropic_api_key is not None:
                from bot.core.recovery import Reconciler

                labs = build_labs(settings, course)
                recovery = Reconciler(store, labs.owner)
        except BaseException:
            await store.close()
            raise
        settle_heap()
        return cls(settings=settings, course=course, labs=labs, recovery=recovery)

    async def drain(self, grace: float | None = None) -> None:
        """Shutdown, while the platforms are still connected: refuse new lab questions, let running answers
        finish for up to ``grace`` seconds (default ``COURSEBOT_SHUTDOWN_GRACE``), then end the rest as
        interrupted."""
        if self.labs is not None:
            await self.labs.drain(self.settings.shutdown_grace if grace is None else grace)

    async def close(self) -> None:
        if self.recovery is not None:
            await self.recovery.close()
        if self.labs is not None:
            await self.labs.close()
        await self.course.store.close()


def build_labs(settings: Settings, course: CourseService) -> LabAssistant:
    """The lab assistant with its Claude client, from the settings (``ANTHROPIC_API_KEY`` must be set)."""
    from bot.core.claude import make_client
    from bot.core.labs import LabAssistant

    if settings.anthropic_api_key is None:
        raise ValueError("ANTHROPIC_API_KEY is not set")
    client = make_client(
        settings.anthropic_api_key.get_secret_value(), base_url=settings.anthropic_base_url,
        max_retries=settings.max_retries, read_timeout=settings.read_timeout,
    )
    return LabAssistant(client, lab_config(settings), course, course.store)


def lab_config(settings: Settings) -> LabConfig:
    """The lab assistants' plain values from the settings."""
    from bot.core.labs import LabConfig

    return LabConfig(
        model=settings.model,
        max_tokens=settings.max_tokens,
        read_timeout=settings.read_timeout,
        history_budget_chars=settings.history_budget_chars,
        max_question_chars=settings.max_question_chars,
        answers_per_learner=settings.answers_per_learner,
        max_concurrent_answers=settings.max_concurrent_answers,
        questions_per_hour=settings.questions_per_hour,
        output_tokens_per_day=settings.tokens_per_day,
        config_error_cooldown=settings.config_error_cooldown,
    )


def settle_heap() -> None:
    """Take everything alive after start-up out of the garbage collector's full passes.

    The imported libraries, the SDK's types and the content live as long as the process. Left in the
    collector's oldest generation, every full collection walks them all: under 100 streaming answers one such
    pass stalled the event loop for 96 ms, the whole tail of first-visible latency (bench/RESULTS.md).
    """
    gc.collect()
    gc.freeze()
