"""What the streaming engine needs from a platform: somewhere to post and edit one conversation's messages.

An adapter implements :class:`MessageSink` for one conversation (a Discord channel or thread, a Slack thread,
the terminal). The engine never talks to a platform library directly; it calls the sink only when the
:class:`~bot.core.streaming.pacing.Pacer` grants a slot, and at most one call per answer is in flight.

Errors a sink raises:

- :class:`RateLimited` for a 429 the platform library did not absorb: the engine penalizes the bucket and
  retries the same (latest) text at the next slot.
- :class:`NativeStreamExpired` from ``append``/``stop`` when the message left its streaming state (Slack
  ``message_not_in_streaming_state``): the engine switches that answer to ``edit()``.
- Anything else counts as a failed request: the text is kept and sent again at the next slot; after a few
  failures in a row the engine gives up and ``finish()`` raises :class:`DeliveryError`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class MessageSink(Protocol):
    """One conversation an answer is written into.

    ``limit`` is the most characters a message may hold (``len()`` of a ``str``: Discord 2000, Slack
    ``chat.update`` 4000). ``bucket`` is the pacing key shared by every message whose edits count against
    the same platform rate limit (the channel or thread on Discord, the workspace on Slack). A sink may also
    define ``post_bucket: str`` when new messages are limited per another key (Slack ``chat.postMessage``:
    per channel); without it posts are paced under ``bucket``.
    """

    limit: int
    bucket: str

    async def post(self, text: str, *, final: bool = False) -> str:
        """Send a new message and return its id. ``final``: its text will not change again (a sink that shows
        live controls, such as a Stop button, leaves them off)."""
        ...

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        """Replace the whole text of a message this sink posted (also one still in native streaming state).
        ``final``: this is the message's last text (live controls go with this same request)."""
        ...


@runtime_checkable
class NativeStreamSink(MessageSink, Protocol):
    """A sink whose platform streams natively (Slack ``chat.startStream``/``appendStream``/``stopStream``).

    ``post()`` starts the stream with the first text; the engine then sends only what was added.
    Appends are paced as request kind ``"append"`` and stops as ``"stop"`` (see ``RateLimits.per_kind``).
    """

    async def append(self, message_id: str, delta: str) -> None:
        """Add ``delta`` to the end of a streaming message; raise NativeStreamExpired if it stopped streaming."""
        ...

    async def stop(self, message_id: str, delta: str) -> None:
        """Add a last ``delta`` (may be empty) and end the stream; raise NativeStreamExpired if already ended."""
        ...


@runtime_checkable
class HybridStreamSink(NativeStreamSink, Protocol):
    """A native-streaming sink that can also show an answer without a stream: a plain message (posted under
    ``plain_post_bucket``, request kind ``"plain"``) that later texts replace with ``edit``. The engine takes
    whichever slot frees first, a stream's start or a plain post, so a first text never waits for a scarce
    stream slot when the plain route could show it; ``native`` False (the workspace has no streaming) leaves
    the plain route alone. ``stream_lifetime``: seconds after which the platform ends a stream by itself; the
    engine moves the answer on to a new message before then.
    """

    plain_post_bucket: str
    native: bool
    stream_lifetime: float

    async def post_plain(self, text: str, *, final: bool = False) -> str:
        """Send a new plain (not streaming) message and return its id."""
        ...


class RateLimited(Exception):
    """The platform answered 429; wait ``retry_after`` seconds (for the whole connection if ``is_global``)."""

    def __init__(self, retry_after: float, *, is_global: bool = False) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.2f} s{' (global)' if is_global else ''}")
        self.retry_after = max(0.0, float(retry_after))
        self.is_global = is_global


class NativeStreamExpired(Exception):
    """The message is no longer in native streaming state; fall back to ``edit()``."""


class DeliveryError(Exception):
    """The answer could not be delivered: the sink failed several times in a row (cause chained)."""
