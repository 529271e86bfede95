"""Where a lab answer streams in Slack: one reply in the lab's thread.

Two sinks for :class:`~bot.core.streaming.engine.ProgressiveMessage`:

* :class:`ThreadSink` posts the reply with ``chat.postMessage`` and rewrites it with ``chat.update``
  (Tier 3, shared by the whole workspace: ``bucket`` is the team id; posts are paced per channel).
* :class:`NativeThreadSink` uses Slack's AI streaming: ``chat.startStream`` with the first text, then
  ``chat.appendStream`` with only what was added and ``chat.stopStream`` at the end. When Slack ends a stream
  early (``message_not_in_streaming_state``, streams expire after a few minutes) it raises
  :class:`NativeStreamExpired` and the engine finishes the same message with ``chat.update``.

The model's Markdown goes out as ``markdown_text`` (Slack renders Markdown there), with ``&``, ``<`` and ``>``
escaped so the text can neither ping (``<!channel>``, ``<@U…>``) nor break the message. Escaping is
per character, so escaped deltas add up to the escaped whole.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.streaming.sink import NativeStreamExpired, RateLimited
from bot.slack.mrkdwn import escape

# Characters per message handed out by the engine. chat.update takes 4000; escaping can lengthen the text
# (an "&" becomes "&amp;"), so the engine splits well below that.
ANSWER_LIMIT = 3000


async def _call(request: Awaitable[Any]) -> Any:
    """Await a Web API call, turning a 429 the client's retries did not absorb into ``RateLimited``."""
    try:
        return await request
    except SlackApiError as exc:
        response = exc.response
        if response is not None and response.status_code == 429:
            raise RateLimited(float(response.headers.get("Retry-After", 1) or 1)) from exc
        if response is not None and response.get("error") == "message_not_in_streaming_state":
            raise NativeStreamExpired(str(exc)) from exc
        raise


class ThreadSink:
    """A lab answer in a thread, written with chat.postMessage and chat.update."""

    limit = ANSWER_LIMIT

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, team_id: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.bucket = team_id  # chat.update: per workspace
        self.post_bucket = channel  # chat.postMessage: per channel

    async def post(self, text: str) -> str:
        response = await _call(self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, markdown_text=escape(text),
            unfurl_links=False, unfurl_media=False,
        ))
        return str(response["ts"])

    async def edit(self, message_id: str, text: str) -> None:
        await _call(self.client.chat_update(channel=self.channel, ts=message_id, markdown_text=escape(text)))


class NativeThreadSink(ThreadSink):
    """A lab answer streamed with chat.startStream / appendStream / stopStream to one learner's thread."""

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, team_id: str, user_id: str) -> None:
        super().__init__(client, channel=channel, thread_ts=thread_ts, team_id=team_id)
        self.user_id = user_id
        self.post_bucket = team_id  # chat.startStream: per workspace (Tier 2)

    async def post(self, text: str) -> str:
        response = await _call(self.client.chat_startStream(
            channel=self.channel, thread_ts=self.thread_ts, markdown_text=escape(text),
            recipient_team_id=self.bucket, recipient_user_id=self.user_id,
        ))
        return str(response["ts"])

    async def append(self, message_id: str, delta: str) -> None:
        await _call(self.client.chat_appendStream(channel=self.channel, ts=message_id, markdown_text=escape(delta)))

    async def stop(self, message_id: str, delta: str) -> None:
        await _call(self.client.chat_stopStream(
            channel=self.channel, ts=message_id, markdown_text=escape(delta) if delta else None
        ))
