"""A :class:`~bot.core.streaming.sink.MessageSink` that writes a streaming answer into a Discord thread.

A 429 that discord.py did not absorb becomes ``RateLimited`` so the engine backs off that thread's bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import discord

from bot.cogs._render import ANSWER_MAX, NO_PINGS, answer_embed
from bot.core.streaming.pacing import Pacer, Priority
from bot.core.streaming.sink import RateLimited

log = logging.getLogger(__name__)

TYPING_REFRESH_SECONDS = 8.0  # Discord shows "typing" for about 10 s per request
TYPING_DELAY = 1.0  # seconds: a first text sooner than this needs no typing indicator (and a class's burst is known)
# Above this share of the global budget in use, typing is skipped: with many labs asking at once the first
# texts come sooner if their slots are not spent on typing indicators (100 labs at once: 100 of ~500 requests).
TYPING_MAX_GLOBAL_LOAD = 0.5
T = TypeVar("T")


async def typing_until(channel: discord.Thread, shown: asyncio.Event, pacer: Pacer) -> None:
    """Show "typing…" in ``channel`` until ``shown`` is set (re-sent while the wait lasts), unless the first text
    comes within ``TYPING_DELAY`` (most do: no request for an indicator nobody would see) or the bot's global
    budget is busy: then the first text is what the budget is for."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shown.wait(), TYPING_DELAY)
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


class EmbedAnswerSink:
    """Posts and edits the messages of one lab answer in a thread, each one embed (up to 4,096 characters, twice
    a message's content limit, so a lab answer is one message) with the Stop button inside it while it streams.

    The final text of a message goes with the request that removes its Stop button (``final``), so an answer
    costs no request beyond its text; the answer's last message gets ``final_view`` instead (its sources and
    👍 / 👎) in that same request. Links are made honest (``bot.core.links``); embeds ping nobody, and
    every request still says so (``allowed_mentions``).
    """

    limit = ANSWER_MAX

    def __init__(self, channel: discord.abc.Messageable, bucket: str,
                 stop_view: Callable[[], discord.ui.View] | None = None,
                 final_view: Callable[[], discord.ui.View | None] | None = None) -> None:
        self.channel = channel
        self.bucket = bucket
        self.first_text = asyncio.Event()  # set once the answer (or a status line) is on screen
        self._stop_view = stop_view
        self._final_view = final_view
        self._last_id: str | None = None  # the answer's newest message: the one that ends it

    def _view(self, final: bool, *, last: bool) -> discord.ui.View | None:
        if not final:
            return None if self._stop_view is None else self._stop_view()
        return self._final_view() if last and self._final_view is not None else None

    async def post(self, text: str, *, final: bool = False) -> str:
        message = await _call(self.channel.send(
            embed=answer_embed(text), view=self._view(final, last=True) or discord.utils.MISSING,
            allowed_mentions=NO_PINGS,
        ))
        self.first_text.set()
        self._last_id = str(message.id)
        return self._last_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        message = self.channel.get_partial_message(int(message_id))  # type: ignore[attr-defined]
        view = self._view(True, last=message_id == self._last_id) if final else discord.utils.MISSING
        await _call(message.edit(embed=answer_embed(text), view=view, allowed_mentions=NO_PINGS))
