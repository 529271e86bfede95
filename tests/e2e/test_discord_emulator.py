"""The Discord emulator refuses what Discord refuses, so the bot's tests can fail for the right reasons."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl

from tests.emulators.discord import DiscordEmulator, shard_of


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


# -- several shards, several processes ------------------------------------------------------------------------


class Shards(discord.AutoShardedClient):
    """A bare sharded discord.py client that records the messages and interactions that reach it."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.05, **options)
        self.seen: list[tuple[str, int | None]] = []  # ("message" or "interaction", guild id)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause between this client's shards: the emulator does not pace IDENTIFYs."""

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(("message", message.guild.id if message.guild else None))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append(("interaction", interaction.guild_id))


@pytest.fixture
def point_discord_py(monkeypatch: pytest.MonkeyPatch, discord_emulator: DiscordEmulator) -> None:
    """discord.py's REST base and default gateway at the emulator, as the bot's settings do."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord_emulator.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(discord_emulator.gateway_url))


@contextlib.asynccontextmanager
async def running(client: Shards, emulator: DiscordEmulator) -> AsyncIterator[Shards]:
    """Log in and connect every shard of ``client``; close it afterwards."""
    await client.login(emulator.token)
    task = asyncio.create_task(client.connect(reconnect=False))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 10)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


def sent(emulator: DiscordEmulator, event: str, guild_id: int | None) -> list[tuple[int, int]]:
    """The (shard id, shard count) of every session that was sent ``event`` for ``guild_id``."""
    return [s.shard for s in emulator.sessions for e in s.events if e == (event, guild_id)]


async def test_two_processes_of_shards_each_get_only_their_guilds(
    discord_emulator: DiscordEmulator, point_discord_py: None, api: aiohttp.ClientSession
) -> None:
    emu = discord_emulator
    guilds = emu.add_guilds(4, users=1, shard_count=2)
    assert sorted(shard_of(g.id, 2) for g in guilds) == [0, 0, 1, 1]
    async with api.put(f"applications/{emu.app_id}/commands", json=[{"name": "ping", "description": "Ping"}]):
        pass
    async with running(Shards(shard_count=2, shard_ids=[0]), emu) as zero, \
            running(Shards(shard_count=2, shard_ids=[1]), emu) as one:
        assert sorted(s.shard for s in emu.sessions) == [(0, 2), (1, 2)]
        clients = {0: zero, 1: one}
        for shard, client in clients.items():
            assert {g.id for g in client.guilds} == {g for g in emu.guilds if shard_of(g, 2) == shard}
        for guild in guilds:
            owner = clients[shard_of(guild.id, 2)]
            said = asyncio.ensure_future(owner.wait_for("message", check=lambda m, g=guild: m.guild.id == g.id,
                                                        timeout=5))
            await emu.say(emu.members(guild.id)[0], guild.general, "hello")
            await said
            await emu.slash(emu.members(guild.id)[0], "ping", channel_id=guild.general)
            await owner.wait_for("interaction", check=lambda i, g=guild: i.guild_id == g.id, timeout=5)
            for event in ("MESSAGE_CREATE", "INTERACTION_CREATE"):
                assert sent(emu, event, guild.id) == [(shard_of(guild.id, 2), 2)], "exactly one shard, the owner"
        for shard, client in clients.items():
            mine = [g.id for g in guilds if shard_of(g.id, 2) == shard]
            assert client.seen == [(kind, g) for g in mine for kind in ("message", "interaction")]


async def test_direct_messages_go_to_shard_zero(
    discord_emulator: DiscordEmulator, point_discord_py: None, api: aiohttp.ClientSession
) -> None:
    emu = discord_emulator
    learner = emu.add_user("learner")
    async with api.post("users/@me/channels", json={"recipient_id": str(learner.id)}) as response:
        dm = int((await response.json())["id"])
    async with running(Shards(shard_count=3, shard_ids=[1, 2]), emu) as others, \
            running(Shards(shard_count=3, shard_ids=[0]), emu) as zero:
        said = asyncio.ensure_future(zero.wait_for("message", timeout=5))
        message = await emu.say(learner, dm, "hi")
        assert (await said).guild is None and "guild_id" not in message.data and "member" not in message.data
        assert sent(emu, "MESSAGE_CREATE", None) == [(0, 3)]
    assert others.seen == [] and zero.seen == [("message", None)]


async def test_a_client_without_a_shard_count_runs_the_recommended_shards(
    discord_emulator: DiscordEmulator, point_discord_py: None
) -> None:
    emu = discord_emulator
    emu.shard_count = 3
    emu.add_guilds(3)
    async with running(Shards(), emu) as client:
        assert client.shard_count == 3 and sorted(client.shards) == [0, 1, 2]
        assert sorted(s.shard for s in emu.sessions) == [(0, 3), (1, 3), (2, 3)]
        assert {g.id for g in client.guilds} == set(emu.guilds)
        for session in emu.sessions:
            created = [g for e, g in session.events if e == "GUILD_CREATE"]
            assert created and all(session.owns(g) for g in created)


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], ["0", "2"]])
async def test_an_identify_with_a_bad_shard_is_closed_with_4010(
    discord_emulator: DiscordEmulator, shard: list[Any]
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(discord_emulator.gateway_url) as socket:
        hello = await socket.receive_json()
        assert hello["op"] == 10
        await socket.send_json({"op": 2, "d": {"token": discord_emulator.token, "intents": 0, "shard": shard,
                                               "properties": {}}})
        closed = await socket.receive()
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4010
    assert discord_emulator.identified == 0 and discord_emulator.connected == 0


async def test_every_process_of_a_bot_token_draws_on_one_global_budget() -> None:
    async with DiscordEmulator(global_limit=(4, 5.0)) as emulator:
        headers = {"Authorization": f"Bot {emulator.token}"}
        async with aiohttp.ClientSession(headers=headers) as first, aiohttp.ClientSession(headers=headers) as second:
            statuses = []
            for process in (first, second, first, second, first):
                async with process.get(emulator.api_base + "/users/@me") as response:
                    statuses.append(response.status)
    assert statuses == [200, 200, 200, 200, 429] and emulator.rate_limited == 1
