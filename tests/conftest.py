"""Fixtures shared by every test (append new ones below; keep each independent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.emulators.anthropic import FakeAnthropic
from tests.postgres import PostgresServer, StoreTarget, postgres_dsn, postgres_server  # noqa: F401 (fixtures)
from tests.redis_server import own_redis, redis_server, redis_url  # noqa: F401 (fixtures)


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A fake Anthropic Messages API on 127.0.0.1 (``.url``, api key ``"test-key"``), scripted per test."""
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(params=["sqlite", "postgres"])
async def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreTarget]:
    """Where a store test runs: once on a SQLite file, once on a fresh PostgreSQL database (tests/postgres.py)."""
    if request.param == "sqlite":
        yield StoreTarget(str(tmp_path / "course.db"))
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    dsn = await server.create_database()
    try:
        yield StoreTarget(dsn)
    finally:
        await server.drop_database(dsn)
