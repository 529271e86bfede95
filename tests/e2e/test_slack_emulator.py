"""The Slack emulator enforces what Slack enforces, so "zero 429s" and "within limits" in other tests mean something."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.emulators.slack import MAX_CONNECTIONS, SlackEmulator

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


async def test_rate_limits_answer_429_with_retry_after_and_are_counted() -> None:
    async with SlackEmulator(rate_limits={"chat.update": (3, 60.0)}) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
        posted = await client.chat_postMessage(channel="C1", text="hello")
        for n in range(3):
            await client.chat_update(channel="C1", ts=posted["ts"], text=f"edit {n}")
        with pytest.raises(SlackApiError) as raised:
            await client.chat_update(channel="C1", ts=posted["ts"], text="one too many")
        assert raised.value.response.status_code == 429
        assert int(raised.value.response.headers["Retry-After"]) >= 1
        assert slack.throttled["chat.update"] == 1
        [message] = slack.channel_messages("C1")
        assert [v.text for v in message.versions] == ["hello", "edit 0", "edit 1", "edit 2"]


async def test_message_limits_and_stream_expiry() -> None:
    async with SlackEmulator() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
        posted = await client.chat_postMessage(channel="C1", text="hi")
        with pytest.raises(SlackApiError, match="msg_too_long"):
            await client.chat_update(channel="C1", ts=posted["ts"], text="x" * 4001)
        with pytest.raises(SlackApiError, match="invalid_blocks"):
            await client.chat_postMessage(channel="C1", text="t", blocks=[{"type": "header", "text": {
                "type": "plain_text", "text": "h" * 151}}])
        stream = await client.chat_startStream(channel="C1", thread_ts=posted["ts"], markdown_text="Hel",
                                               recipient_team_id=slack.team_id, recipient_user_id="U1")
        await client.chat_appendStream(channel="C1", ts=stream["ts"], markdown_text="lo")
        assert slack.expire_streams() == 1
        with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
            await client.chat_appendStream(channel="C1", ts=stream["ts"], markdown_text="!")
        await client.chat_update(channel="C1", ts=stream["ts"], markdown_text="Hello!")
        assert [v.markdown for v in slack.messages[("C1", stream["ts"])].versions] == ["Hel", "Hello", "Hello!"]
        with pytest.raises(SlackApiError, match="invalid_auth"):
            await AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()


def test_manifest_declares_every_command_the_app_handles() -> None:
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text())
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    source = "".join(p.read_text() for p in (ROOT / "bot" / "slack").glob("*.py"))
    handled = set(re.findall(r'@app\.command\("([^"]+)"\)', source))
    assert declared == handled == {"/lesson", "/quiz", "/test", "/lab", "/progress", "/review", "/course-stats",
                                   "/course-forget"}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "message.channels", "message.groups"} <= events
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["settings"]["socket_mode_enabled"]
    assert {"chat:write", "commands", "channels:history", "files:write", "users:read"} <= set(
        manifest["oauth_config"]["scopes"]["bot"])


async def test_the_web_api_limits_are_one_budget_for_every_connection_of_the_app() -> None:
    async with SlackEmulator(rate_limits={"chat.update": (3, 60.0)}) as slack:
        first, second = (AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
                         for _ in range(2))
        posted = await first.chat_postMessage(channel="C1", text="hello")
        for client in (first, second, first):
            await client.chat_update(channel="C1", ts=posted["ts"], text="edit")
        with pytest.raises(SlackApiError) as raised:
            await second.chat_update(channel="C1", ts=posted["ts"], text="one too many")
        assert raised.value.response.status_code == 429 and slack.throttled["chat.update"] == 1


# -- several Socket Mode connections of one app --------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connection_url(slack: SlackEmulator, http: aiohttp.ClientSession) -> str:
    headers = {"Authorization": f"Bearer {slack.app_token}"}
    async with http.post(slack.api_url + "apps.connections.open", headers=headers) as response:
        return str((await response.json())["url"])


async def connect(slack: SlackEmulator, http: aiohttp.ClientSession) -> tuple[aiohttp.ClientWebSocketResponse, Any]:
    """A raw Socket Mode connection of the app, and the first message it got (hello, or a disconnect)."""
    ws = await http.ws_connect(await connection_url(slack, http))
    return ws, await ws.receive_json()


async def serve(ws: aiohttp.ClientWebSocketResponse, received: list[dict[str, Any]], *, ack_from: int = 0) -> None:
    """Keep every envelope the connection gets; ack those whose retry_attempt is at least ``ack_from``."""
    async for frame in ws:
        envelope = json.loads(frame.data)
        received.append(envelope)
        if envelope["retry_attempt"] >= ack_from:
            await ws.send_json({"envelope_id": envelope["envelope_id"]})


def event_ids(envelopes: list[dict[str, Any]]) -> list[str]:
    return [e["payload"]["event_id"] for e in envelopes]


async def test_two_socket_mode_clients_of_one_app_share_the_events() -> None:
    async with SlackEmulator(seed=7) as slack:
        slack.add_user("U1", "ann")
        received: dict[int, list[str]] = {0: [], 1: []}
        clients = []
        for n in received:
            client = SocketModeClient(app_token=slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url))

            async def take(client: SocketModeClient, request: SocketModeRequest, n: int = n) -> None:
                received[n].append(request.payload["event_id"])
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

            client.socket_mode_request_listeners.append(take)
            await client.connect()
            clients.append(client)
        try:
            await slack.wait_for(lambda: len(slack.connections) == 2)
            said = [await slack.say(f"message {n}", user="U1", channel="C1") for n in range(20)]
        finally:
            for client in clients:
                await client.close()
    sent = [slack.message_events[("C1", m.ts)]["event_id"] for m in said]
    assert received[0] and received[1], "both connections got events"
    assert sorted(received[0] + received[1]) == sorted(sent), "each event reached exactly one connection, once"


async def test_an_unacked_envelope_is_redelivered_with_its_retry_attempt(http: aiohttp.ClientSession) -> None:
    async with SlackEmulator(seed=3) as slack:
        slack.add_user("U1", "ann")
        slack.ack_timeout = 0.2
        (slow, _), (quick, _) = await connect(slack, http), await connect(slack, http)
        got: dict[str, list[dict[str, Any]]] = {"slow": [], "quick": []}
        readers = [asyncio.ensure_future(serve(slow, got["slow"], ack_from=1)),
                   asyncio.ensure_future(serve(quick, got["quick"]))]
        said = [await slack.say(f"message {n}", user="U1", channel="C1") for n in range(12)]
        for reader in readers:
            reader.cancel()
    sent = [slack.message_events[("C1", m.ts)]["event_id"] for m in said]
    first_tries = [e for e in got["slow"] if e["retry_attempt"] == 0]
    retries = [e for envelopes in got.values() for e in envelopes if e["retry_attempt"] == 1]
    assert first_tries, "some events went to the connection that does not ack them"
    assert event_ids(retries) == event_ids(first_tries) and all(e["retry_reason"] == "http_timeout" for e in retries)
    assert all(e["retry_attempt"] <= 1 for envelopes in got.values() for e in envelopes)
    acked = [e for e in got["quick"] if e["retry_attempt"] == 0] + retries
    assert sorted(event_ids(acked)) == sorted(sent), "every event acked exactly once"
    assert len({e["envelope_id"] for envelopes in got.values() for e in envelopes}) == len(sent) + len(retries)


async def test_connections_are_counted_limited_and_a_closed_one_gets_nothing(http: aiohttp.ClientSession) -> None:
    async with SlackEmulator() as slack:
        slack.add_user("U1", "ann")
        url = await connection_url(slack, http)
        first = await http.ws_connect(url)
        second, hello = await connect(slack, http)
        assert (await first.receive_json())["num_connections"] == 1 and hello["num_connections"] == 2
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 401, "a connection URL is good for one connection"
        await first.close()
        await slack.wait_for(lambda: len(slack.connections) == 1)
        received: list[dict[str, Any]] = []
        reader = asyncio.ensure_future(serve(second, received))
        for n in range(5):
            await slack.say(f"message {n}", user="U1", channel="C1")
        assert [e["retry_attempt"] for e in received] == [0] * 5, "each went to the live connection at once"
        assert slack.socket_connections == 2
        others = [await connect(slack, http) for _ in range(MAX_CONNECTIONS - 1)]
        assert [hello["num_connections"] for _, hello in others] == list(range(2, MAX_CONNECTIONS + 1))
        extra, disconnect = await connect(slack, http)
        assert disconnect == {"type": "disconnect", "reason": "too_many_websockets", "debug_info": {"host": "emulator"}}
        assert (await extra.receive()).type == aiohttp.WSMsgType.CLOSE and len(slack.connections) == MAX_CONNECTIONS
        reader.cancel()
