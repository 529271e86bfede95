"""A learner's rights over their data: a copy of everything stored about them, and deletion by an instructor.

The export is JSON (tables have different columns): every row of every table in ``LEARNER_TABLES`` that
belongs to the learner, values as stored. Exporting never creates a learner.

Forgetting is two steps so that one click cannot delete a learner by mistake: the adapter shows a private
confirmation whose button carries :func:`confirmation` (the learner's user id and when it expires);
:meth:`DataRights.confirmed_user` checks it and :meth:`DataRights.forget` deletes every row in one
transaction. An expired confirmation deletes nothing. Who may forget (the instructors) is the adapter's check, as for statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.course import CourseError, StaleButton, button_number
from bot.core.messages import STALE_BUTTON
from bot.core.review import Clock, utc_now
from bot.core.store.base import LearnerRef, Store

CONFIRM_FOR = timedelta(minutes=10)
USER_ID_MAX = 64  # platform user ids are short (Discord snowflakes, Slack "U…" ids)


class ConfirmationExpired(CourseError):
    """A forget confirmation pressed after ``CONFIRM_FOR``: nothing is deleted."""


@dataclass(frozen=True, slots=True)
class LearnerExport:
    filename: str
    content: bytes  # UTF-8 JSON
    rows: int  # rows exported, every table together


def confirmation(user_id: str, now: datetime) -> str:
    """The value a forget button carries: ``<user id>:<expiry, Unix seconds>``."""
    return f"{user_id}:{int((now + CONFIRM_FOR).timestamp())}"


class DataRights:
    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or utc_now

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    async def export(self, learner: LearnerRef) -> LearnerExport:
        """Every row stored about ``learner`` as a JSON file, grouped by table."""
        learner_id = await self.store.find_learner(learner)
        tables = await self.store.learner_data(learner_id) if learner_id is not None else {}
        document = {
            "about": f"Everything coursebot stores about {learner.platform} user {learner.user_id}"
                     f" in workspace {learner.workspace}, as stored.",
            "exported_at": self.now().isoformat(),
            "tables": tables,
        }
        content = json.dumps(document, indent=2, ensure_ascii=False, default=_json_value).encode()
        filename = f"coursebot-data-{learner.platform}-{learner.user_id}.json"
        return LearnerExport(filename=filename, content=content, rows=sum(len(rows) for rows in tables.values()))

    async def is_known(self, learner: LearnerRef) -> bool:
        """Whether anything is stored about ``learner`` (looks up without creating anyone)."""
        return await self.store.find_learner(learner) is not None

    def confirmation(self, user_id: str) -> str:
        return confirmation(user_id, self.now())

    def confirmed_user(self, value: str) -> str:
        """The user id a forget button names; ``ConfirmationExpired`` after its time, ``StaleButton`` if forged."""
        user_id, _, expires = value.rpartition(":")
        if not user_id or len(user_id) > USER_ID_MAX or not (user_id.isascii() and user_id.replace("-", "").isalnum()):
            raise StaleButton(STALE_BUTTON)
        if self.now().timestamp() > button_number(expires):
            raise ConfirmationExpired("That confirmation has expired, so nothing was deleted. Run the command again.")
        return user_id

    async def forget(self, learner: LearnerRef) -> int:
        """Delete every row about ``learner`` (one transaction); the number of rows deleted (0: none stored)."""
        learner_id = await self.store.find_learner(learner)
        if learner_id is None:
            return 0
        return sum((await self.store.forget_learner(learner_id)).values())


def _json_value(value: object) -> str:
    """Values JSON has no type for (PostgreSQL returns times as ``datetime``)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
