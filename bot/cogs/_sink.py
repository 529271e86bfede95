"""A :class:`~bot.core.streaming.sink.MessageSink` that writes a streaming answer into a Discord thread.

The newest message of an answer carries a Stop button while it streams; ``remove_stop_buttons`` takes
them off once the answer is over. A 429 that discord.py did not absorb becomes ``RateLimited`` so the
engine backs off that thread's bucket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import discord

from bot.cogs._render import CONTENT_MAX
from bot.core.streaming.pacing import Pacer, Priority
from bot.core.streaming.sink import RateLimited

log = logging.getLogger(__name__)

TYPING_REFRESH_SECONDS = 8.0  # Discord shows "typing" for about 10 s per request
# Above this share of the global budget in use, typing is skipped: with many labs asking at once the first
# texts come sooner if their slots are not spent on typing indicators (100 labs at once: 100 of ~500 requests).
TYPING_MAX_GLOBAL_LOAD = 0.5
T = TypeVar("T")


async def typing_until(channel: discord.Thread, shown: asyncio.Event, pacer: Pacer) -> None:
    """Show "typing…" in ``channel`` until ``shown`` is set (re-sent while the wait lasts), unless the bot's
    global budget is busy: then the first text is what the budget is for."""
    while not shown.is_set():
        if pacer.global_load() < TYPING_MAX_GLOBAL_LOAD:
            await pacer.acquire_global(priority=Priority.FINAL)
            try:
                await channel.typing()
            except discord.HTTPException:
                log.debug("typing indicator failed in %s", channel.id, exc_info=True)
                return
        try:
            await asyncio.wait_for(shown.wait(), TYPING_REFRESH_SECONDS)
        except TimeoutError:
            continue


async def _call(request: Awaitable[T]) -> T:
    try:
        return await request
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.HTTPException as exc:
        if exc.status != 429:
            raise
        headers = getattr(exc.response, "headers", {}) or {}
        retry_after = float(headers.get("Retry-After") or 1.0)
        raise RateLimited(retry_after, is_global=headers.get("X-RateLimit-Global") == "true") from exc


class ThreadSink:
    """Posts and edits the messages of one answer in ``channel`` (a lab thread)."""

    limit = CONTENT_MAX

    def __init__(self, channel: discord.Thread, stop_view: Callable[[], discord.ui.View] | None = None) -> None:
        self.channel = channel
        self.bucket = str(channel.id)
        self.first_text = asyncio.Event()  # set once the answer (or a status line) is on screen
        self._stop_view = stop_view
        self._with_stop: list[int] = []

    async def post(self, text: str) -> str:
        view = self._stop_view() if self._stop_view is not None else discord.utils.MISSING
        message = await _call(self.channel.send(text, view=view))
        if self._stop_view is not None:
            self._with_stop.append(message.id)
        self.first_text.set()
        return str(message.id)

    async def edit(self, message_id: str, text: str) -> None:
        await _call(self.channel.get_partial_message(int(message_id)).edit(content=text))

    async def remove_stop_buttons(self, pacer: Pacer) -> None:
        """Take the Stop button off every message of the answer (paced; failures are only logged)."""
        while self._with_stop:
            message_id = self._with_stop.pop()
            await pacer.acquire(self.bucket, priority=Priority.FINAL)
            try:
                await self.channel.get_partial_message(message_id).edit(
                    view=None, allowed_mentions=discord.AllowedMentions.none()
                )
            except discord.HTTPException:
                log.warning("could not remove the Stop button from message %s", message_id, exc_info=True)
