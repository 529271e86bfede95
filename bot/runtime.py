"""What every adapter shares in one process: settings, the course service and the lab assistant."""

from __future__ import annotations

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
        return cls(settings=settings, course=course, labs=labs)

    async def close(self) -> None:
        if self.labs is not None:
            await self.labs.close()
        await self.course.store.close()
