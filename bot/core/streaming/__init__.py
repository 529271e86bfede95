"""Throttled progressive editing: one growing answer shown in chat messages, paced by platform rate limits.

Platform-free. Adapters implement :class:`MessageSink` (optionally :class:`NativeStreamSink`), create ONE
:class:`Pacer` per platform connection with that platform's :class:`RateLimits`, and give every answer a
:class:`ProgressiveMessage`. :func:`split_message` cuts any long text at clean boundaries.
"""

from bot.core.streaming.chunking import split_message
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Pacer, Priority, RateLimits, RequestKind
from bot.core.streaming.sink import (
    DeliveryError,
    MessageSink,
    NativeStreamExpired,
    NativeStreamSink,
    RateLimited,
)

__all__ = [
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
