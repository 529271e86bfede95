"""Runtime.start: ready to serve, with start-up objects out of the collector's full passes."""

from __future__ import annotations

import gc
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime

CONTENT = Path(__file__).resolve().parents[2] / "content"


async def test_start_freezes_the_start_up_heap_and_close_releases_the_store(tmp_path: Path) -> None:
    gc.unfreeze()
    settings = Settings(_env_file=None, COURSEBOT_DB=tmp_path / "bot.db", COURSEBOT_CONTENT=CONTENT)
    runtime = await Runtime.start(settings)
    try:
        assert gc.get_freeze_count() > 0
        assert runtime.labs is None  # no key: no Claude client
        assert runtime.course.module().number == 5
    finally:
        await runtime.close()
        gc.unfreeze()
