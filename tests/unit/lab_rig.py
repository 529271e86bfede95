"""A class of learners asking lab questions: the real LabAssistant, store and course, Claude played by the fake API.

Shared by the admission, breaker and recovery tests; answers are shown on ``RecordingSink``s.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.core.course import CourseService
from bot.core.labs import LabAssistant, TurnOutcome
from bot.core.store.base import LabThread, Store
from bot.core.store.sqlite import SQLiteStore
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.runtime import build_labs
from tests.emulators.anthropic import FakeAnthropic
from tests.unit.course_factory import learner, make_course
from tests.unit.test_labs import RecordingSink, make_settings


@dataclass
class Classroom:
    fake: FakeAnthropic
    settings: Settings
    course: CourseService
    assistant: LabAssistant
    _keys: Iterator[int] = field(default_factory=itertools.count)

    @property
    def store(self) -> Store:
        return self.course.store

    async def thread(self, who: int = 1, lab: int = 1) -> LabThread:
        """A new lab thread of learner ``who``."""
        return await self.course.open_lab(learner(who), lab, "discord", f"thread-{next(self._keys)}")

    @staticmethod
    def message() -> tuple[ProgressiveMessage, RecordingSink]:
        sink = RecordingSink()
        return ProgressiveMessage(sink, Pacer(RateLimits(per_bucket=None, global_=None))), sink

    async def ask(self, thread: LabThread, question: str = "What is TTFT?", *, event_id: str
                  ) -> tuple[TurnOutcome, RecordingSink]:
        """Admit and answer ``question``; the outcome and what was shown."""
        message, sink = self.message()
        outcome = await self.assistant.ask(thread, question, event_id=event_id, message=message)
        assert outcome is not None, "a new event id is answered"
        return outcome, sink


@contextlib.asynccontextmanager
async def classroom(fake: FakeAnthropic, tmp_path: Path, **settings: object) -> AsyncIterator[Classroom]:
    """A course on a fresh SQLite file and a lab assistant built from ``settings`` as the runtime builds it."""
    values = make_settings(fake, tmp_path, **settings)
    store = SQLiteStore(values.db)
    await store.open()
    course = CourseService(make_course(), store)
    assistant = build_labs(values, course)
    try:
        yield Classroom(fake, values, course, assistant)
    finally:
        await assistant.close()
        await store.close()
