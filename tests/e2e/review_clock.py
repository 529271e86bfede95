"""The spaced review's clock for end-to-end tests (the ``clock`` fixture in conftest.py): real time plus however
far a test has travelled; the reminder loop checks every ``CHECK_SECONDS``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CHECK_SECONDS = 0.05


@dataclass
class TravelClock:
    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset
