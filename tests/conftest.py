"""Fixtures shared by every test (append new ones below; keep each independent)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.anthropic import FakeAnthropic


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A fake Anthropic Messages API on 127.0.0.1 (``.url``, api key ``"test-key"``), scripted per test."""
    async with FakeAnthropic() as fake:
        yield fake
