"""Where a lab answer streams in Slack: one reply in the lab's thread.

:class:`AnswerSink` serves :class:`~bot.core.streaming.engine.ProgressiveMessage` by every method Slack offers,
and the engine picks, for each request, the one with a free slot (``bot/slack/pacing.py`` says which budget
binds when). When Slack ends a stream early (``message_not_in_streaming_state``, streams expire after about
five minutes; the engine moves on to a new message before that) it raises :class:`NativeStreamExpired` and
the engine finishes the same message with ``chat.update``.

The model's Markdown goes out as ``markdown_text`` (Slack renders Markdown there), with ``&``, ``<`` and ``>``
escaped so the text can neither ping (``<!channel>``, ``<@U…>``) nor break the message. Escaping is
per character, so escaped deltas add up to the escaped whole.

The answer's controls (``final_blocks``: its sources and 👍 / 👎) ride on the request that ends its last
message, so they cost no request of their own: ``chat.stopStream`` takes them as ``blocks`` under the
streamed text; a plain post or ``chat.update`` cannot carry ``markdown_text`` and ``blocks`` together, so
that final request sends the same Markdown as a ``markdown`` block followed by the controls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.streaming.sink import NativeStreamExpired, RateLimited
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.mrkdwn import escape, plain

log = logging.getLogger(__name__)

# chat.startStream errors that mean "no native streaming here", not "this request failed".
NATIVE_UNAVAILABLE = frozenset({"unknown_method", "not_allowed_token_type", "missing_scope", "feature_not_enabled"})

# Characters per message handed out by the engine. chat.update takes 4000; escaping can lengthen the text
# (an "&" becomes "&amp;"), so the engine splits well below that. A stream's own cap (about 10 KB) is further.
ANSWER_LIMIT = 3000
STREAM_LIFETIME = 300.0  # seconds: Slack ends a native stream after about five minutes
NOTIFICATION_MAX = 150  # characters of an answer in the ``text`` (notification) of a message with blocks


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


class AnswerSink:
    """A lab answer in a thread (a :class:`~bot.core.streaming.sink.HybridStreamSink`).

    Each message of the answer goes out the way that has a free slot first: a native stream
    (``chat.startStream``, Tier 2 per workspace, then ``chat.appendStream`` and ``chat.stopStream``) or a plain
    reply (``chat.postMessage``, per channel, then ``chat.update``, Tier 3 per workspace). A stream's final text
    ends it with ``chat.stopStream`` or replaces it with ``chat.update``, whichever is free first. Where the
    workspace refuses streaming, the message is posted plain and ``on_unavailable`` is called so that later
    answers skip streaming. ``final_blocks`` (called when the last message gets its final text) are the
    controls that go under the finished answer.
    """

    limit = ANSWER_LIMIT
    stream_lifetime = STREAM_LIFETIME

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, team_id: str, user_id: str,
                 native: bool = True, on_unavailable: Callable[[], None] | None = None,
                 final_blocks: Callable[[], list[Block]] | None = None) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.team_id = team_id
        self.user_id = user_id
        self.native = native
        self.bucket = team_id  # chat.update, chat.appendStream, chat.stopStream: per workspace
        self.post_bucket = team_id  # chat.startStream: per workspace
        self.plain_post_bucket = channel  # chat.postMessage: per channel
        self._on_unavailable = on_unavailable
        self._plain: set[str] = set()  # messages posted without a stream
        self._final_blocks = final_blocks
        self._last_id: str | None = None  # the answer's newest message: the one that ends it

    def _controls(self, final: bool, message_id: str | None = None) -> list[Block]:
        """What goes under the answer with this request: the controls, on the last message's final text
        (``message_id`` None: a message being posted, which is the newest)."""
        if not final or self._final_blocks is None or message_id not in (None, self._last_id):
            return []
        return self._final_blocks()

    @staticmethod
    def _content(text: str, controls: list[Block]) -> dict[str, Any]:
        """A plain message's content: ``markdown_text``, or (with controls) the same Markdown as a block."""
        if not controls:
            return {"markdown_text": escape(text)}
        return {"text": escape(plain(text, NOTIFICATION_MAX)), "blocks": [blocks.markdown(escape(text)), *controls]}

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
            self.native = False
            if self._on_unavailable is not None:
                self._on_unavailable()
            return await self.post_plain(text, final=final)
        self._last_id = str(response["ts"])
        return self._last_id

    async def post_plain(self, text: str, *, final: bool = False) -> str:
        response = await _call(self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, unfurl_links=False, unfurl_media=False,
            **self._content(text, self._controls(final)),
        ))
        self._last_id = str(response["ts"])
        self._plain.add(self._last_id)
        return self._last_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        await _call(self.client.chat_update(
            channel=self.channel, ts=message_id, **self._content(text, self._controls(final, message_id)),
        ))

    async def append(self, message_id: str, delta: str) -> None:
        self._not_plain(message_id)
        await _call(self.client.chat_appendStream(channel=self.channel, ts=message_id, markdown_text=escape(delta)))

    async def stop(self, message_id: str, delta: str) -> None:
        self._not_plain(message_id)
        await _call(self.client.chat_stopStream(
            channel=self.channel, ts=message_id, markdown_text=escape(delta) if delta else None,
            blocks=self._controls(True, message_id) or None,
        ))

    def _not_plain(self, message_id: str) -> None:
        if message_id in self._plain:
            raise NativeStreamExpired(f"message {message_id} was posted without a stream")
