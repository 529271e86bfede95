"""Where a lab answer streams in Slack: one reply in the lab's thread.

Two sinks for :class:`~bot.core.streaming.engine.ProgressiveMessage`:

* :class:`ThreadSink` posts the reply with ``chat.postMessage`` and rewrites it with ``chat.update``
  (Tier 3, shared by the whole workspace: ``bucket`` is the team id; posts are paced per channel).
* :class:`NativeThreadSink` uses Slack's AI streaming: ``chat.startStream`` with the first text, then
  ``chat.appendStream`` with only what was added and ``chat.stopStream`` at the end. When Slack ends a stream
  early (``message_not_in_streaming_state``, streams expire after a few minutes) it raises
  :class:`NativeStreamExpired` and the engine finishes the same message with ``chat.update``. Where the
  workspace does not offer streaming (``chat.startStream`` refused as unknown or not allowed) the message is
  posted with ``chat.postMessage`` instead, continues with ``chat.update``, and ``on_unavailable`` is called
  so that later answers skip native streaming.

The model's Markdown goes out as ``markdown_text`` (Slack renders Markdown there), with ``&``, ``<`` and ``>``
escaped so the text can neither ping (``<!channel>``, ``<@U…>``) nor break the message. Escaping is
per character, so escaped deltas add up to the escaped whole.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.streaming.sink import NativeStreamExpired, RateLimited
from bot.slack.mrkdwn import escape

log = logging.getLogger(__name__)

# chat.startStream errors that mean "no native streaming here", not "this request failed".
NATIVE_UNAVAILABLE = frozenset({"unknown_method", "not_allowed_token_type", "missing_scope", "feature_not_enabled"})

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
            raise RateLimited(_retry_after(response.headers)) from exc
        if response is not None and response.get("error") == "message_not_in_streaming_state":
            raise NativeStreamExpired(str(exc)) from exc
        raise


def _retry_after(headers: Any) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after") or 1
    try:
        return float(value[0] if isinstance(value, list) else value)
    except ValueError:
        return 1.0


class ThreadSink:
    """A lab answer in a thread, written with chat.postMessage and chat.update."""

    limit = ANSWER_LIMIT

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, team_id: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.team_id = team_id
        self.bucket = team_id  # chat.update: per workspace
        self.post_bucket = channel  # chat.postMessage: per channel

    async def post(self, text: str, *, final: bool = False) -> str:
        response = await _call(self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, markdown_text=escape(text),
            unfurl_links=False, unfurl_media=False,
        ))
        return str(response["ts"])

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        await _call(self.client.chat_update(channel=self.channel, ts=message_id, markdown_text=escape(text)))


class NativeThreadSink(ThreadSink):
    """A lab answer streamed with chat.startStream / appendStream / stopStream to one learner's thread."""

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, team_id: str, user_id: str,
                 on_unavailable: Callable[[], None]) -> None:
        super().__init__(client, channel=channel, thread_ts=thread_ts, team_id=team_id)
        self.user_id = user_id
        self.post_bucket = team_id  # chat.startStream: per workspace (Tier 2)
        self._on_unavailable = on_unavailable
        self._plain: set[str] = set()  # messages posted without a stream

    async def post(self, text: str, *, final: bool = False) -> str:
        try:
            response = await _call(self.client.chat_startStream(
                channel=self.channel, thread_ts=self.thread_ts, markdown_text=escape(text),
                recipient_team_id=self.team_id, recipient_user_id=self.user_id,
            ))
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error not in NATIVE_UNAVAILABLE:
                raise
            log.warning("slack: native streaming is unavailable (%s); answers use chat.update", error)
            self._on_unavailable()
            message_id = await super().post(text)
            self._plain.add(message_id)
            return message_id
        return str(response["ts"])

    async def append(self, message_id: str, delta: str) -> None:
        self._not_plain(message_id)
        await _call(self.client.chat_appendStream(channel=self.channel, ts=message_id, markdown_text=escape(delta)))

    async def stop(self, message_id: str, delta: str) -> None:
        self._not_plain(message_id)
        await _call(self.client.chat_stopStream(
            channel=self.channel, ts=message_id, markdown_text=escape(delta) if delta else None
        ))

    def _not_plain(self, message_id: str) -> None:
        if message_id in self._plain:
            raise NativeStreamExpired(f"message {message_id} was posted without a stream")
