"""The Discord emulator refuses what Discord refuses, so the bot's tests can fail for the right reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.emulators.discord import DiscordEmulator


@pytest.fixture
async def api(discord_emulator: DiscordEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {discord_emulator.token}"}
    async with aiohttp.ClientSession(base_url=discord_emulator.api_base + "/", headers=headers) as session:
        yield session


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embeds": [{"description": "x" * 4097}]}, "embeds"),
        ({"embeds": [{"title": "t", "description": "x" * 4000}, {"description": "y" * 2001}]}, "embeds"),
        ({"embeds": [{"description": "x"}] * 11}, "embeds"),
        ({"content": "x", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "L" * 81, "custom_id": "a"}]}]}, "components"),
        ({"content": "x", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "ok", "custom_id": "c" * 101}]}]}, "components"),
        ({"content": "x", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": str(i), "custom_id": str(i)} for i in range(6)]}]}, "components"),
        ({"content": ""}, "content"),
    ],
)
async def test_invalid_messages_get_discords_400(
    discord_emulator: DiscordEmulator, api: aiohttp.ClientSession, payload: dict, field: str
) -> None:
    async with api.post(f"channels/{discord_emulator.general}/messages", json=payload) as response:
        assert response.status == 400
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    assert field in body["errors"]
    assert discord_emulator.channel_messages(discord_emulator.general) == []


async def test_edits_past_the_channel_bucket_get_429_with_headers(
    discord_emulator: DiscordEmulator, api: aiohttp.ClientSession
) -> None:
    channel = discord_emulator.general
    async with api.post(f"channels/{channel}/messages", json={"content": "v0"}) as response:
        message_id = (await response.json())["id"]
    statuses = []
    for n in range(6):
        async with api.patch(f"channels/{channel}/messages/{message_id}", json={"content": f"v{n + 1}"}) as response:
            statuses.append(response.status)
            headers = response.headers
    assert statuses == [200] * 5 + [429]
    assert headers["Via"] and headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Scope"] == "user"
    assert float(headers["X-RateLimit-Reset-After"]) > 0 and headers["X-RateLimit-Bucket"]
    assert discord_emulator.rate_limited == 1
    (message,) = discord_emulator.channel_messages(channel)
    assert message.contents == ["v0", "v1", "v2", "v3", "v4", "v5"]


async def test_wrong_token_is_refused(discord_emulator: DiscordEmulator) -> None:
    url, headers = discord_emulator.api_base + "/users/@me", {"Authorization": "Bot nope"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 401


async def test_requests_past_the_global_limit_get_a_global_429() -> None:
    async with DiscordEmulator(global_limit=(3, 5.0)) as emulator, aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(4):
            async with session.get(emulator.api_base + "/users/@me",
                                   headers={"Authorization": f"Bot {emulator.token}"}) as response:
                statuses.append(response.status)
                headers, body = response.headers, await response.json()
    assert statuses == [200, 200, 200, 429]
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global" and headers["Via"]
    assert body["global"] is True and body["retry_after"] > 0 and emulator.rate_limited == 1
