"""Throttled progressive editing: one growing answer shown in chat messages, paced by platform rate limits.

Platform-free. Adapters implement :class:`MessageSink` (optionally :class:`NativeStreamSink`), create ONE
:class:`Pacer` per platform connection with that platform's :class:`RateLimits` (``DISCORD_LIMITS``,
or the Slack adapter's own), and give every answer a :class:`ProgressiveMessage`::

    message = ProgressiveMessage(sink, pacer)
    message.status("Claude is busy, retrying…")   # optional, until the first text
    message.update(text_so_far)                    # as often as you like; never blocks
    ids = await message.finish(text, notice="⏹️ Stopped.", footer="312 tokens")

:func:`split_message` cuts any long text at clean boundaries (lessons, non-streamed answers).
"""

from bot.core.streaming.chunking import split_message
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import DISCORD_LIMITS, Pacer, Priority, RateLimits, RequestKind
from bot.core.streaming.sink import (
    DeliveryError,
    MessageSink,
    NativeStreamExpired,
    NativeStreamSink,
    RateLimited,
)

__all__ = [
    "DISCORD_LIMITS",
    "DeliveryError",
    "MessageSink",
    "NativeStreamExpired",
    "NativeStreamSink",
    "Pacer",
    "Priority",
    "ProgressiveMessage",
    "RateLimited",
    "RateLimits",
    "RequestKind",
    "split_message",
]
