"""Slack's rate limits, kept by the bot itself so a busy workspace never sees a 429.

Slack limits each Web API method per app per workspace ("tiers"), shared by every channel and thread:
``chat.update`` Tier 3 (~50/min), ``chat.startStream`` and ``chat.stopStream`` Tier 2 (~20/min),
``chat.appendStream`` Tier 4 (~100/min); ``chat.postMessage`` about one per second per channel.

:attr:`SlackPacing.stream` is the one :class:`~bot.core.streaming.pacing.Pacer` of the connection that every
streaming answer shares (edits, appends and stops under the workspace; a native stream's start under the
workspace, a plain answer's first post under its channel). The bot's other posts (lessons, quizzes, lab
messages) take the same per-channel window (:meth:`SlackPacing.post`); the other methods get one small Pacer
each (:meth:`SlackPacing.call`). Every window is a minute plus a second of headroom, so requests granted at the
edge of a window cannot land inside Slack's previous one.

These are the only Slack limits in the code: the streaming benchmark (``bench/bench_streaming.py``) runs
``STREAM_LIMITS`` itself.

Which budget binds, for N answers asked together in one workspace (every answer may go either way, see
``bot/slack/stream_sink.py``; measured in ``bench/RESULTS.md``): the first 20 of a minute start native streams
(``chat.startStream``, Tier 2), the rest are posted plain (``chat.postMessage``, whose per-channel window, shared
with the bot's other posts there, binds when a whole class sits in one channel), so no first text waits for a
Tier 2 slot. Native answers then share ``chat.appendStream``'s 100 a minute (at 20 answers, 5 progress updates
each, about one a second: each answer takes its turn, ``Pacer.fair_gap``; once the minute's 20 streams have
started, no appends are saved for later ones: ``RateLimits.started_by``) and plain ones share ``chat.update``'s
50 with everyone's final texts when ``chat.stopStream``'s 20 are spent: from about 30 answers a minute,
``chat.update`` is the budget that binds.
Every plain answer in flight keeps one ``chat.update`` slot for its final text; when a class asking over the
minute has left none for one more, a new plain answer is held back and posted whole when it completes (one
``chat.postMessage``), instead of showing its start and waiting most of a minute for its end.
"""

from __future__ import annotations

from bot.core.shared.budget import SharedBudget
from bot.core.streaming.pacing import Pacer, Priority, RateLimits

MINUTE = 61.0
POSTS_PER_CHANNEL = 60  # chat.postMessage: about one a second per channel, short bursts allowed

STREAM_LIMITS = RateLimits(
    per_bucket=(50, MINUTE),  # chat.update, per workspace
    global_=None,
    per_kind={
        "post": (20, MINUTE),  # chat.startStream, per workspace (Tier 2)
        "plain": (POSTS_PER_CHANNEL, MINUTE),  # chat.postMessage, per channel: answers and every other post
        "append": (100, MINUTE),  # chat.appendStream, per workspace (Tier 4)
        "stop": (20, MINUTE),  # chat.stopStream, per workspace (Tier 2)
    },
    eager=frozenset({"edit", "append", "stop"}),  # a class asking within a minute gets the minute's budget
    started_by={"append": "post"},  # once the minute's 20 streams have started, the appends are all theirs
)


METHOD_LIMITS: dict[str, int] = {  # requests per minute per workspace
    "chat.postEphemeral": 100,
    "assistant.threads.setStatus": 50,
    "views.publish": 100,
    "users.info": 100,
    "conversations.open": 50,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}


class SlackPacing:
    """Every rate limit of one Slack connection (one app in one workspace)."""

    def __init__(self, shared: SharedBudget | None = None) -> None:
        """``shared``: the app's budget in Redis, for several processes of one app (``Runtime.budget``)."""
        def scoped(name: str) -> SharedBudget | None:
            return None if shared is None else shared.scoped(name)

        self.stream = Pacer(STREAM_LIMITS, shared=scoped("stream"))
        self._methods = {
            method: Pacer(RateLimits(per_bucket=(count, MINUTE), global_=None), shared=scoped(method))
            for method, count in METHOD_LIMITS.items()
        }

    async def post(self, channel: str) -> None:
        """Wait for a slot to post one message (chat.postMessage) in ``channel``: the same window answers post
        under, so lessons, quizzes and lab messages and the answers share the channel's minute as Slack counts it."""
        await self.stream.acquire(channel, priority=Priority.FIRST, kind="plain")

    async def call(self, method: str, team_id: str) -> None:
        """Wait for a slot to call ``method`` (one of ``METHOD_LIMITS``) in workspace ``team_id``."""
        await self._methods[method].acquire(team_id, priority=Priority.FIRST)
