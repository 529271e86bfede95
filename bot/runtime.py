"""What every adapter shares in one process: settings, the course service and the lab assistant."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.core.content.loader import load_course
from bot.core.course import CourseService
from bot.core.labs import LabAssistant
from bot.core.store.sqlite import SQLiteStore


@dataclass
class Runtime:
    settings: Settings
    course: CourseService
    labs: LabAssistant | None  # None when ANTHROPIC_API_KEY is not set

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Load and validate the content, open (and migrate) the database, build the Claude client."""
        content = load_course(settings.content)
        store = SQLiteStore(settings.db)
        await store.open()
        course = CourseService(content, store)
        labs = LabAssistant.from_settings(settings, course) if settings.claude_enabled else None
        return cls(settings=settings, course=course, labs=labs)

    async def close(self) -> None:
        if self.labs is not None:
            await self.labs.close()
        await self.course.store.close()
