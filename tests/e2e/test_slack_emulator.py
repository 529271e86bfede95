"""The Slack emulator enforces what Slack enforces, so "zero 429s" and "within limits" in other tests mean something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.emulators.slack import SlackEmulator

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
    assert declared == handled == {"/lesson", "/quiz", "/test", "/lab", "/progress", "/course-stats"}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "message.channels", "message.groups"} <= events
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["settings"]["socket_mode_enabled"]
    assert {"chat:write", "commands", "channels:history", "files:write", "users:read"} <= set(
        manifest["oauth_config"]["scopes"]["bot"])
