"""Keep one chat message (or a few, past the platform's limit) showing a growing answer.

The caller hands over the whole answer so far with :meth:`ProgressiveMessage.update` as often as it likes;
it never blocks. A single background task per answer sends what is needed, one request at a time, each
when the shared :class:`~bot.core.streaming.pacing.Pacer` grants a slot, always with the latest text
(nothing stale queues up, unchanged text is never re-sent). What remains of a finished answer goes first, then
first texts, then final texts of messages the answer moved past, then progress edits
(:class:`~bot.core.streaming.pacing.Priority`): an answer that finishes before its first post goes whole.

Past ``sink.limit`` the message ends at a clean boundary (:mod:`bot.core.streaming.chunking`) and the answer
continues in a new message, posted first because it carries the newest text; the earlier one then gets its
final text once and is not touched again. Every message leaves room for the cursor and a closing code fence,
so its final text always fits.

:meth:`ProgressiveMessage.finish` sends the complete text (cursor removed, notice and footer appended to the
last message) and returns the message ids once everything landed. A failed request keeps its text for the
next slot; a 429 penalizes the bucket; after a few failures in a row ``finish`` raises
:class:`~bot.core.streaming.sink.DeliveryError`.

Sinks with native streaming (:class:`~bot.core.streaming.sink.NativeStreamSink`) receive only the added text
through ``append`` and the end through ``stop``; no cursor is drawn (the platform shows its own) and anything
that is not a pure append (the status line replaced, a cut) falls back to ``edit``. A native stream the platform
would soon end by itself (``stream_lifetime``) is ended at a clean boundary and the answer moves on to a new
message, as it does at the length limit.

Each request may have several routes (:meth:`~bot.core.streaming.pacing.Pacer.acquire_first` takes the one with
a free slot first): with a :class:`~bot.core.streaming.sink.HybridStreamSink` a message starts as a native stream
or as a plain post (then edited), and a stream's final text ends the stream or replaces it with an edit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.core.streaming.chunking import FENCE_CLOSE, cut_point, fence_after, reopening_fence
from bot.core.streaming.pacing import Pacer, Priority, RequestKind, Route
from bot.core.streaming.sink import (
    DeliveryError,
    HybridStreamSink,
    MessageSink,
    NativeStreamExpired,
    NativeStreamSink,
    RateLimited,
)
from bot.core.tasks import spawn

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # failed requests in a row before the answer is given up
SETTLE = 64  # characters past a full message before its cut is final (markup straddling it is known by then)
ROLLOVER_MARGIN = 30.0  # seconds before a native stream would expire that the answer moves to a new message
HELD_BACK_RECHECK = 1.0  # seconds between looks at whether a held back plain post may go (``_plain_held_back``)
EMPTY_ANSWER = "(no answer)"


@dataclass(frozen=True, slots=True)
class _Request:
    index: int  # which message
    kind: RequestKind
    priority: Priority


class ProgressiveMessage:
    """One answer shown in a conversation, kept up to date through ``sink`` at the pace ``pacer`` allows."""

    def __init__(self, sink: MessageSink, pacer: Pacer, *, cursor: str = " ▌") -> None:
        if sink.limit < len(cursor) + len(FENCE_CLOSE) + 32:
            raise ValueError(f"a message limit of {sink.limit} characters is too small to stream into")
        self.sink = sink
        self.pacer = pacer
        self.message_ids: list[str] = []
        self._native = sink if isinstance(sink, NativeStreamSink) else None
        self._hybrid = sink if isinstance(sink, HybridStreamSink) else None
        self._cursor = cursor  # drawn on messages the engine edits, not on native streams (they show their own)
        self._shown: list[str] = []  # what each message displays, as last acknowledged by the sink
        self._posted_at: list[float] = []  # loop time each message was posted
        self._streaming: set[int] = set()  # messages still in native streaming state
        self._status: str | None = None
        self._text = ""
        self._frozen: list[str] = []  # final texts of the messages the answer has moved past
        self._frozen_source = ""  # the part of the answer they hold
        self._fence: str | None = None  # code block open where they end
        self._suffix: str | None = None  # set by finish(): the answer is complete
        self._pump: asyncio.Task[None] | None = None
        self._hurry: asyncio.Future[None] | None = None  # set while the pump waits for a slot finish() replans
        self._failures = 0
        self._error: Exception | None = None
        self._holds_final = False  # a slot is kept in the pacer for the complete text's edit
        self._progress: Route | None = None  # the window this answer's progress counts in (``Pacer.join``)
        self._last_sent = 0.0  # loop time of the last request that went through

    # -- the caller's side ------------------------------------------------------------------------------

    @property
    def on_screen(self) -> str:
        """What the answer's newest message shows now, cursor removed: the checkpoint a crash repair restores."""
        if not self._shown:
            return ""
        head, cursor, tail = self._shown[-1].rpartition(self._cursor) if self._cursor else ("", "", self._shown[-1])
        return head + tail if cursor else self._shown[-1]

    def status(self, text: str) -> None:
        """Show ``text`` (e.g. "Claude is busy, retrying…") until the answer's first text replaces it."""
        if not self._text and self._suffix is None:
            self._status = text
            self._wake()

    def update(self, text: str) -> None:
        """Set the whole answer so far; the latest text wins. Never blocks."""
        if self._suffix is None and text != self._text:
            self._text = text
            self._wake()

    async def finish(self, text: str, *, notice: str = "", footer: str = "") -> list[str]:
        """Make the messages show the complete ``text``, then ``notice`` and ``footer``; return their ids.

        Works at any point, also after the caller cancelled the answer (pass the text so far).
        """
        self._text = text
        self._suffix = "".join(f"\n\n{part}" for part in (notice, footer) if part)
        if self._hurry is not None and not self._hurry.done():
            self._hurry.set_result(None)  # the complete text goes first: do not wait out a lesser slot
        self._wake()
        try:
            while (pump := self._pump) is not None:
                await pump
        finally:
            self._release_final()
            self._join(None)
        if self._error is not None:
            raise DeliveryError("the answer could not be delivered") from self._error
        return list(self.message_ids)

    def abandon(self) -> None:
        """Send nothing more and give back what the pacer keeps for this answer (its final text's slot, its
        turn): for an answer whose ending failed before :meth:`finish`, left for crash repair to restore."""
        if self._pump is not None:
            self._pump.cancel()
        self._release_final()
        self._join(None)

    # -- layout: what each message should show now -----------------------------------------------------

    def _layout(self, *, posting_plain: bool = False) -> list[str]:
        """What each message should show; ``posting_plain``: the next message is about to be posted plain (a
        hybrid sink's other route), so it is edited from then on and shows the cursor from its first text."""
        final = self._suffix is not None
        text = self._text
        if not text.startswith(self._frozen_source):  # the answer was restarted: lay it out afresh
            self._frozen, self._frozen_source, self._fence = [], "", None
        if not text and not final:
            return [self._status] if self._status is not None else []
        limit = self.sink.limit
        while True:
            tail = text[len(self._frozen_source) :]
            reopen = reopening_fence(self._fence)
            room = limit - len(reopen) - len(FENCE_CLOSE) - len(self._cursor)
            rollover = not final and len(tail) > 1 and self._stream_ending(len(self._frozen))
            if len(tail) <= room and not rollover:
                break
            if not final and not rollover and len(tail) < room + SETTLE and "\n" not in tail[room:]:
                break  # overflowing, but where markup near the cut ends is not known yet
            cut = cut_point(tail, min(room, len(tail) - 1), self._fence)
            body = tail[:cut]
            fence = fence_after(body, self._fence)
            self._frozen.append(reopen + body + (FENCE_CLOSE if fence is not None else ""))
            self._frozen_source = text[: len(self._frozen_source) + cut]
            self._fence = fence
        body = tail[: cut_point(tail, room, self._fence)]
        open_fence = fence_after(body, self._fence) is not None
        if final:
            return self._frozen + self._last_messages(reopen + body if body else "", open_fence)
        if not body:
            return list(self._frozen)
        if not (posting_plain or self._edited(len(self._frozen))):  # a native stream: only ever appended to
            return [*self._frozen, reopen + body]
        return [*self._frozen, reopen + body + self._cursor + (FENCE_CLOSE if open_fence else "")]

    def _edited(self, index: int) -> bool:
        """Whether message ``index`` is shown by edits (it gets the cursor), not by a native stream."""
        if self._native is None:
            return True
        return index < len(self.message_ids) and index not in self._streaming

    def _stream_ending(self, index: int) -> bool:
        """Message ``index`` is a native stream the platform will soon end by itself: time to move on."""
        lifetime = getattr(self.sink, "stream_lifetime", None)
        if not lifetime or index not in self._streaming:
            return False
        return asyncio.get_running_loop().time() - self._posted_at[index] > max(0.0, lifetime - ROLLOVER_MARGIN)

    def _last_messages(self, last: str, open_fence: bool) -> list[str]:
        """The final message(s) after the frozen ones: the rest of the answer, the notice and the footer."""
        suffix = self._suffix or ""
        if suffix and open_fence:
            last += FENCE_CLOSE
        if not last:
            return [suffix.lstrip("\n") or EMPTY_ANSWER] if suffix or not self._frozen else []
        if len(last) + len(suffix) <= self.sink.limit:
            return [last + suffix]
        return [last, suffix.lstrip("\n")[: self.sink.limit]]

    def _next_request(self) -> tuple[_Request, str] | None:
        """The next request to send and its text: a message not posted yet first (it shows the newest text),
        then the first message that does not show what it should."""
        desired = self._layout()
        final = self._suffix is not None
        if len(desired) > len(self.message_ids):
            index = len(self.message_ids)
            # A message the answer overflows into while streaming is ordinary: with many answers, first and
            # complete texts must stay few enough to always go first. A status line alone (a queue notice) is
            # not what the learner waits for either: answers' texts go first.
            if final:
                priority = Priority.UNSHOWN if index == 0 else Priority.COMPLETE
            elif index == 0 and self._text:
                priority = Priority.FIRST
            else:
                priority = Priority.ORDINARY
            return _Request(index, "post", priority), desired[index]
        for index, want in enumerate(desired):
            shown = self._shown[index]
            done = final or index < len(desired) - 1  # this message will not change again
            if shown == want and not (done and index in self._streaming):
                continue
            if final:
                priority = Priority.UNSHOWN if index == 0 and shown == self._status else Priority.COMPLETE
            elif index == 0 and shown == self._status:
                priority = Priority.FIRST  # the first text replaces the status line
            else:
                priority = Priority.FINAL if done else Priority.ORDINARY
            if index in self._streaming and want.startswith(shown):
                return _Request(index, "stop" if done else "append", priority), want
            return _Request(index, "edit", priority), want
        return None

    # -- the pump: one request at a time ---------------------------------------------------------------

    def _wake(self) -> None:
        if self._pump is None and self._error is None:
            self._pump = spawn(self._run(), name=f"stream:{self.sink.bucket}")

    async def _run(self) -> None:
        try:
            while (planned := self._next_request()) is not None:
                request, _ = planned
                held_back = self._plain_held_back(request)
                route = await self._acquire(self._routes(request, held_back), request.priority, held_back=held_back)
                if route is None:  # finish() came while it waited (or a held back post looks again): plan anew
                    continue
                text = self._text_for(request, route)  # the latest text wins
                if text is not None and not await self._send(request, text, route):
                    return
        finally:
            self._pump = None

    def _text_for(self, request: _Request, route: Route) -> str | None:
        """What the granted request should send by ``route`` now, or None if that message needs no such request
        any more."""
        desired = self._layout(posting_plain=request.kind == "post" and route[1] == "plain")
        index = request.index
        if index >= len(desired):
            return None
        want = desired[index]
        if request.kind == "post":
            return want if index == len(self.message_ids) else None
        if index >= len(self.message_ids):
            return None
        shown = self._shown[index]
        if request.kind == "edit":
            return want if want != shown else None
        if index not in self._streaming or not want.startswith(shown):
            return None
        if request.kind == "append":
            return want if want != shown else None
        return want if self._suffix is not None or index < len(desired) - 1 else None  # stop

    async def _acquire(self, routes: list[Route], priority: Priority, *, held_back: bool = False) -> Route | None:
        """Wait for a slot on one of ``routes``; None if finish() is called while an ordinary, first-text or
        ``held_back`` request waits, and every ``HELD_BACK_RECHECK`` seconds of a held back one
        (``_plain_held_back``).

        The complete text is then planned afresh, at its own priority and by its own routes: a native stream's
        progress waits for a ``chat.appendStream`` slot, but its end may go by ``chat.stopStream`` or
        ``chat.update``, whichever is free first, and the appends of a class can be spent for the minute. An
        answer that finished before its first text was shown is a complete answer from then on, and is not
        held behind the other answers' complete texts (hundreds of answers at once).
        """
        if priority not in (Priority.ORDINARY, Priority.FIRST) and not held_back:
            return routes[await self.pacer.acquire_first(routes, priority=priority)]
        if priority is Priority.ORDINARY and not await self._wait_turn():
            return None
        slot = asyncio.ensure_future(self.pacer.acquire_first(routes, priority=priority)) if routes else None
        try:
            await self._unless_finished(*([slot] if slot is not None else []),
                                        timeout=HELD_BACK_RECHECK if held_back else None)
        finally:
            if slot is not None and not slot.done():
                slot.cancel()
        if slot is not None and slot.done() and not slot.cancelled():
            return routes[slot.result()]  # granted
        return None

    async def _unless_finished(self, *waits: asyncio.Future[int], timeout: float | None) -> bool:
        """Wait for the first of ``waits`` or ``timeout``, cut short by finish(); False if finish() came."""
        self._hurry = hurry = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait([*waits, hurry], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._hurry = None
        return not hurry.done()

    async def _wait_turn(self) -> bool:
        """Wait until this answer's share of its progress window allows another request (``Pacer.fair_gap``;
        looked at again when the wait ends, as answers joining since lengthen it); False if finish() came."""
        loop = asyncio.get_running_loop()
        while self._progress is not None and (wait := self._last_sent + self.pacer.fair_gap(*self._progress)
                                              - loop.time()) > 0:
            if not await self._unless_finished(timeout=wait):
                return False
        return True

    def _join(self, progress: Route | None) -> None:
        """Count this answer in the window its progress requests go by (none once it is done)."""
        if self._progress is not None:
            self.pacer.leave(*self._progress)
        self._progress = progress
        if progress is not None:
            self.pacer.join(*progress)

    def _plain_held_back(self, request: _Request) -> bool:
        """Whether a plain post must wait: its complete text would need an edit (Slack's ``chat.update``, per
        workspace and minute) that the window has no room left for, because a class asking over the minute
        spent it and the answers in flight hold the rest. Posted now, its end would wait most of a minute; held
        back, it goes whole when it completes (one post, no edit), or sooner if a stream slot or room frees.

        A post that may go keeps its complete text's slot from this moment, so answers deciding together do
        not all count the same free slot (a native stream's start gives it back: ``_send``).
        """
        if self._hybrid is None or request.kind != "post" or request.priority <= Priority.COMPLETE or self._holds_final:
            return False
        if not self.pacer.has_room_for_final(self.sink.bucket):
            return True
        self._hold_final()
        return False

    def _hold_final(self) -> None:
        """Keep a slot in the pacer for the complete text's edit, once per answer."""
        if not self._holds_final:
            self._holds_final = True
            self.pacer.hold_final(self.sink.bucket)

    def _release_final(self) -> None:
        if self._holds_final:
            self._holds_final = False
            self.pacer.release_final(self.sink.bucket)

    def _routes(self, request: _Request, held_back: bool = False) -> list[Route]:
        """The ways ``request`` may go, cheapest first: a hybrid sink's text may start a native stream or be
        posted plain (unless ``held_back``), and a stream's final text may end it or replace it with an edit
        (``HybridStreamSink``), whichever slot comes first."""
        bucket = self.sink.bucket
        if request.kind == "post":
            routes: list[Route] = []
            if self._hybrid is None or self._hybrid.native:
                routes.append((getattr(self.sink, "post_bucket", bucket), "post"))
            if self._hybrid is not None and not held_back:
                routes.append((self._hybrid.plain_post_bucket, "plain"))
            return routes
        if request.kind == "stop" and self._hybrid is not None:
            return [(bucket, "stop"), (bucket, "edit")]
        return [(bucket, request.kind)]

    async def _send(self, request: _Request, text: str, route: Route) -> bool:
        """Send one request by ``route``; False once the answer is given up."""
        index = request.index
        bucket, kind = route
        final = self._suffix is not None or index < len(self._frozen)  # this message will not change again
        try:
            if request.kind == "post":
                if kind == "plain" and self._hybrid is not None:
                    message_id = await self._hybrid.post_plain(text, final=final)
                else:
                    message_id = await self.sink.post(text, final=final)
                self.message_ids.append(message_id)
                self._shown.append(text)
                self._posted_at.append(asyncio.get_running_loop().time())
                self._join((self.sink.bucket, "append" if self._native is not None and kind == "post" else "edit"))
                if self._native is not None and kind == "post":
                    self._streaming.add(index)
                    if index == 0:  # a stream ends by stop or edit, whichever is free: it keeps no slot
                        self._release_final()
                elif not final:  # its complete text will be an edit
                    self._hold_final()
            else:
                message_id = self.message_ids[index]
                if request.kind == "edit" or kind == "edit":  # a stream's final text may go as an edit
                    await self.sink.edit(message_id, text, final=final)
                    self._streaming.discard(index)
                elif self._native is not None:  # append or stop: only messages in self._streaming
                    delta = text[len(self._shown[index]) :]
                    if request.kind == "append":
                        await self._native.append(message_id, delta)
                    else:
                        await self._native.stop(message_id, delta)
                        self._streaming.discard(index)
                self._shown[index] = text
        except RateLimited as exc:
            self.pacer.penalize(bucket, exc.retry_after, kind=kind, is_global=exc.is_global)
        except NativeStreamExpired:
            self._streaming.discard(index)
        except Exception as exc:  # the platform refused or the network failed: keep the text, try again
            self._failures += 1
            log.warning(
                "%s of message %d in %s failed (%d in a row): %r",
                request.kind,
                index,
                bucket,
                self._failures,
                exc,
            )
            if self._failures >= MAX_FAILURES:
                self._error = exc
                return False
        else:
            self._failures = 0
            self._last_sent = asyncio.get_running_loop().time()
        return True
