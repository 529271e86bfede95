"""What every adapter shares in one process: settings, the course service and the lab assistant."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from bot.core.labs import LabAssistant


@dataclass
class Runtime:
    settings: Settings
    course: CourseService
    labs: LabAssistant | None  # None when ANTHROPIC_API_KEY is not set

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Load and validate the content, open (and migrate) the database, build the Claude client.

        The anthropic SDK is imported only when a key is set: it is most of the start-up time.
        """
        content = load_course(settings.content)
        store = SQLiteStore(settings.db)
        await store.open()
        try:
            course = CourseService(content, store)
            labs = None
            if settings.claude_enabled:
                from bot.core.labs import LabAssistant

                labs = LabAssistant.from_settings(settings, course)
        except BaseException:
            await store.close()
            raise
        settle_heap()
        return cls(settings=settings, course=course, labs=labs)

    async def close(self) -> None:
        if self.labs is not None:
            await self.labs.close()
        await self.course.store.close()


def settle_heap() -> None:
    """Take everything alive after start-up out of the garbage collector's full passes.

    The imported libraries, the SDK's types and the content live as long as the process. Left in the
    collector's oldest generation, every full collection walks them all: under 100 streaming answers one such
    pass stalled the event loop for 96 ms, the whole tail of first-visible latency (bench/RESULTS.md).
    """
    gc.collect()
    gc.freeze()
