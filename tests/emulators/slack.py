"""A fake Slack workspace that speaks the real wire formats, for tests.

One workspace (team) with a bot user, people and channels. The bot under test talks to it exactly as to
Slack:

* Web API under ``/api/<method>`` (form, query or JSON arguments; ``Authorization: Bearer``): ``auth.test``,
  ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``chat.startStream`` / ``appendStream`` /
  ``stopStream``, ``views.publish``, ``views.open`` (a modal, with a trigger_id handed out with a command or
  a click; ``submit_view`` sends its ``view_submission``), ``users.info``, ``assistant.threads.setStatus``,
  ``files.getUploadURLExternal`` + the upload URL + ``files.completeUploadExternal``,
  ``apps.connections.open``, ``conversations.open`` / ``info`` / ``replies``.
* Socket Mode: ``apps.connections.open`` (app token) hands out a ``ws://.../socket?ticket=...`` URL per call
  (each connects once); envelopes go down as TEXT frames and the bot acks with ``{"envelope_id", "payload"?}``.
  Up to 10 connections of the app at once (an 11th is told ``too_many_websockets`` and closed); each envelope
  goes to one live connection chosen at random (``seed`` makes the choice reproducible) and is redelivered,
  ``retry_attempt`` + 1, to a connection chosen again, when it is not acked within ``ack_timeout`` (3 s).
* HTTP mode: the same payloads POSTed to the bot's ``/slack/events``, signed with the signing secret.
* ``response_url``s under ``/response/<id>`` (ephemeral replies, ``replace_original``, ``in_channel``).

Slack's limits are enforced with Slack's error codes: ``chat.update`` text <= 4000 (``msg_too_long``),
``markdown_text`` <= 12000, <= 50 blocks, section text <= 3000, header <= 150, button text <= 75, action_id
<= 255, value <= 2000, ``context_actions`` with 1-5 ``feedback_buttons`` / ``icon_button`` elements,
``markdown`` blocks 12000 in all (``invalid_blocks``); ``markdown_text`` cannot go with ``text`` or ``blocks``
(``invalid_arguments``). Rate limits are sliding windows per method per workspace
(``chat.postMessage``: per channel) answered with 429 + ``Retry-After``; every 429 is counted in ``throttled``.
Native streams can be expired on demand (``expire_streams``): further appends and stops get
``message_not_in_streaming_state`` while ``chat.update`` on the same ts keeps working. ``hold(method)`` makes a
method (or the response_url) wait until released, to show that the bot acks before its slow work.

Every version of every message is kept (``Message.versions``); ``Message.shown`` is what a person reads
(entities decoded). The bot's own posts and edits come back as ``message`` / ``message_changed`` events, as
on Slack, so tests prove the bot ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import itertools
import json
import math
import random
import time
import urllib.parse
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

Mode = Literal["socket", "http"]
Window = tuple[int, float]

TEAM_ID = "T0COURSE"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
BOT_TOKEN = "xoxb-test-emulator-token"
APP_TOKEN = "xapp-1-test-emulator-token"
SIGNING_SECRET = "emulator-signing-secret"

# Requests per window, per workspace (documented tiers: 2 ~20/min, 3 ~50/min, 4 ~100/min).
TIER_2: Window = (20, 60.0)
TIER_3: Window = (50, 60.0)
TIER_4: Window = (100, 60.0)
RATE_LIMITS: dict[str, Window] = {
    "chat.update": TIER_3,
    "chat.startStream": TIER_2,
    "chat.appendStream": TIER_4,
    "chat.stopStream": TIER_2,
    "chat.postEphemeral": TIER_4,
    "assistant.threads.setStatus": TIER_3,
    "views.publish": TIER_4,
    "views.open": TIER_4,
    "users.info": TIER_4,
    "conversations.open": TIER_3,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
}
POST_MESSAGE_PER_CHANNEL: Window = (60, 60.0)  # "1 per second per channel, short bursts allowed"

MAX_CONNECTIONS = 10  # Socket Mode connections one app may hold at once
ACK_TIMEOUT = 3.0  # seconds Slack waits for an envelope's ack before it redelivers the envelope
MAX_RETRIES = 3  # redeliveries of an envelope that is never acked

TEXT_MAX_UPDATE = 4000
MARKDOWN_MAX = 12000
STREAM_LIFETIME = 300.0  # seconds until Slack ends a native stream by itself
STREAM_SIZE_MAX = 10000  # a streamed message's cumulative size cap (msg_too_long, seen at about 10-11 KB)
SECTION_MAX = 3000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
ACTION_ID_MAX = 255
VALUE_MAX = 2000
BLOCKS_MAX = 50
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ACTIONS_MAX = 5
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000


class SlackError(Exception):
    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.error = error
        self.detail = detail


@dataclass
class Version:
    text: str
    blocks: list[dict[str, Any]]
    markdown: str  # markdown_text, or the streamed markdown so far, or the text of the message's markdown blocks


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    thread_ts: str | None
    versions: list[Version]
    streaming: bool = False
    stream_expired: bool = False
    bot: bool = False
    started: float = 0.0  # monotonic time a native stream began

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def text(self) -> str:
        return self.latest.markdown or self.latest.text

    @property
    def shown(self) -> str:
        """What a person reads, entities decoded: the blocks' text when there are blocks (``text`` is then
        only the notification fallback), else the text, then any blocks a stream ended with."""
        return _shown(self.latest)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.latest.blocks


@dataclass
class Ephemeral:
    id: int
    channel: str
    user: str
    thread_ts: str | None
    versions: list[Version]
    deleted: bool = False

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.versions[-1].blocks

    @property
    def shown(self) -> str:
        return _shown(self.versions[-1])


@dataclass
class ResponseTarget:
    """Where a ``response_url`` posts: the user and channel, and the message it may replace."""

    channel: str
    user: str
    message: Message | None = None
    ephemeral: Ephemeral | None = None
    uses: int = 0


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    content: bytes = b""
    title: str = ""
    channel: str | None = None
    initial_comment: str = ""
    completed: bool = False


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    status: int
    error: str | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Connection:
    """One Socket Mode connection of the app, with every envelope handed to it, in order."""

    number: int  # 1 for the first connection the emulator accepted
    ws: web.WebSocketResponse
    envelopes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class User:
    id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """The visible text of blocks, one block per line (for assertions)."""
    lines: list[str] = []
    for block in blocks:
        for obj in (block.get("text"), *block.get("fields", []), *block.get("elements", [])):
            if isinstance(obj, dict):
                if isinstance(obj.get("text"), str):
                    lines.append(obj["text"])
                elif isinstance(obj.get("text"), dict):
                    lines.append(obj["text"].get("text", ""))
    return "\n".join(lines)


def _shown(version: Version) -> str:
    if version.blocks and not version.markdown:
        return html.unescape(blocks_text(version.blocks))
    return html.unescape(version.markdown or version.text)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button in ``blocks``, each with its ``block_id`` added."""
    found = []
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("type") == "button":
                found.append({**element, "block_id": block.get("block_id", "")})
        for element in block.get("elements", []) if block.get("type") == "context_actions" else []:
            if element.get("type") == "feedback_buttons":  # each half is pressed like a button
                found += [{**element[side], "type": "feedback_buttons", "action_id": element.get("action_id", ""),
                           "block_id": block.get("block_id", "")} for side in ("positive_button", "negative_button")]
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            found.append({**accessory, "block_id": block.get("block_id", "")})
    return found


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """Slack's Block Kit limits; raise ``SlackError("invalid_blocks")`` naming the first one broken."""
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks", "blocks must be an array")
    if len(blocks) > BLOCKS_MAX:
        raise SlackError("invalid_blocks", f"no more than {BLOCKS_MAX} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        where = f"[json-pointer:/blocks/{i}]"
        text = block.get("text")
        if kind == "header":
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                raise SlackError("invalid_blocks", f"header needs plain_text {where}")
            _limit(text.get("text", ""), HEADER_MAX, where + "/text")
        elif kind == "section":
            if text is None and not block.get("fields"):
                raise SlackError("invalid_blocks", f"section needs text or fields {where}")
            if text is not None:
                _limit(text.get("text", ""), SECTION_MAX, where + "/text")
                if not text.get("text"):
                    raise SlackError("invalid_blocks", f"must be more than 0 characters {where}/text")
            for field_ in block.get("fields", []):
                _limit(field_.get("text", ""), 2000, where + "/fields")
            if isinstance(block.get("accessory"), dict):
                _element(block["accessory"], where + "/accessory")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > ACTIONS_ELEMENTS_MAX:
                raise SlackError("invalid_blocks", f"actions needs 1..{ACTIONS_ELEMENTS_MAX} elements {where}")
            ids = [e.get("action_id") for e in elements if e.get("action_id")]
            if len(ids) != len(set(ids)):
                raise SlackError("invalid_blocks", f"action_id must be unique within a block {where}")
            for j, element in enumerate(elements):
                _element(element, f"{where}/elements/{j}")
        elif kind == "context":
            elements = block.get("elements", [])
            if not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
                raise SlackError("invalid_blocks", f"context needs 1..{CONTEXT_ELEMENTS_MAX} elements {where}")
            for element in elements:
                _limit(element.get("text", ""), SECTION_MAX, where + "/elements")
        elif kind == "rich_text" or kind == "divider" or kind == "markdown":
            if kind == "markdown" and not block.get("text"):
                raise SlackError("invalid_blocks", f"must be more than 0 characters {where}/text")
        elif kind == "context_actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > CONTEXT_ACTIONS_MAX:
                raise SlackError("invalid_blocks", f"context_actions needs 1..{CONTEXT_ACTIONS_MAX} elements {where}")
            for j, element in enumerate(elements):
                _context_action(element, f"{where}/elements/{j}")
        elif kind == "input":
            label = block.get("label") or {}
            if label.get("type") != "plain_text" or not label.get("text"):
                raise SlackError("invalid_blocks", f"input needs a plain_text label {where}")
            _limit(label["text"], 2000, where + "/label")
            element = block.get("element") or {}
            if element.get("type") != "plain_text_input" or not element.get("action_id"):
                raise SlackError("invalid_blocks", f"unsupported input element {element.get('type')!r} {where}")
            _limit(element["action_id"], ACTION_ID_MAX, where + "/element/action_id")
        else:
            raise SlackError("invalid_blocks", f"unknown block type {kind!r} {where}")
        if len(block.get("block_id", "")) > ACTION_ID_MAX:
            raise SlackError("invalid_blocks", f"block_id too long {where}")
    _limit("".join(b.get("text", "") for b in blocks if b.get("type") == "markdown"), MARKDOWN_MAX, "[markdown blocks]")


def _context_action(element: dict[str, Any], where: str) -> None:
    """A ``feedback_buttons`` element (both halves: plain_text up to 75, a value up to 2000) or an
    ``icon_button``, each with an action_id up to 255."""
    _limit(element.get("action_id", ""), ACTION_ID_MAX, where + "/action_id")
    if element.get("type") == "icon_button":
        _element({**element, "type": "button"}, where)
        return
    if element.get("type") != "feedback_buttons":
        raise SlackError("invalid_blocks", f"unsupported element {element.get('type')!r} {where}")
    for side in ("positive_button", "negative_button"):
        button = element.get(side) or {}
        text = button.get("text") or {}
        if text.get("type") != "plain_text" or not text.get("text") or not button.get("value"):
            raise SlackError("invalid_blocks", f"{side} needs plain_text and a value {where}/{side}")
        _limit(text["text"], BUTTON_TEXT_MAX, f"{where}/{side}/text")
        _limit(button["value"], VALUE_MAX, f"{where}/{side}/value")


def _element(element: dict[str, Any], where: str) -> None:
    if element.get("type") != "button":
        raise SlackError("invalid_blocks", f"unsupported element {element.get('type')!r} {where}")
    text = element.get("text") or {}
    if text.get("type") != "plain_text" or not text.get("text"):
        raise SlackError("invalid_blocks", f"button text must be non-empty plain_text {where}")
    _limit(text["text"], BUTTON_TEXT_MAX, where + "/text")
    _limit(element.get("action_id", ""), ACTION_ID_MAX, where + "/action_id")
    _limit(element.get("value", ""), VALUE_MAX, where + "/value")


def _limit(text: str, maximum: int, where: str) -> None:
    if len(text) > maximum:
        raise SlackError("invalid_blocks", f"must be less than {maximum + 1} characters {where}")


class _RateLimiter:
    def __init__(self) -> None:
        self.log: dict[tuple[str, ...], deque[float]] = defaultdict(deque)

    def check(self, key: tuple[str, ...], window: Window) -> float:
        """0 when the call may go (and is counted), else the seconds until it may."""
        count, period = window
        now = time.monotonic()
        stamps = self.log[key]
        while stamps and stamps[0] <= now - period:
            stamps.popleft()
        if len(stamps) >= count:
            return stamps[0] + period - now
        stamps.append(now)
        return 0.0


class SlackEmulator:
    """One Slack workspace on 127.0.0.1 (port 0). Use ``async with SlackEmulator() as slack``."""

    def __init__(
        self,
        *,
        signing_secret: str = SIGNING_SECRET,
        rate_limits: dict[str, Window] | None = None,
        echo_bot_events: bool = True,
        native_streaming: bool = True,
        seed: int | None = None,
    ) -> None:
        self.team_id = TEAM_ID
        self.bot_user_id = BOT_USER_ID
        self.bot_token = BOT_TOKEN
        self.app_token = APP_TOKEN
        self.signing_secret = signing_secret
        self.rate_limits = dict(RATE_LIMITS if rate_limits is None else rate_limits)
        self.echo_bot_events = echo_bot_events
        self.native_streaming = native_streaming  # False: a workspace without chat.*Stream (unknown_method)
        self.stream_lifetime = STREAM_LIFETIME
        self.closed_channels: set[str] = set()  # private channels the bot was not invited to
        self.users: dict[str, User] = {BOT_USER_ID: User(BOT_USER_ID, "coursebot")}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, list[dict[str, Any]]] = defaultdict(list)  # user -> published views
        self.modals: dict[str, list[dict[str, Any]]] = defaultdict(list)  # user -> modals opened (views.open)
        self._triggers: dict[str, str] = {}  # trigger_id -> the user whose command or click made it
        self.statuses: list[dict[str, Any]] = []
        self.uploads: dict[str, Upload] = {}
        self.calls: list[ApiCall] = []
        self.throttled: Counter[str] = Counter()  # method -> 429s answered
        self.deliveries: list[tuple[str, int]] = []  # (type, HTTP status or 0 for socket acks)
        self.message_events: dict[tuple[str, str], dict[str, Any]] = {}  # a person's message -> its event
        self.bot_url: str | None = None  # HTTP mode: the bot's /slack/events URL
        self.socket_connections = 0  # Socket Mode connections accepted so far
        self.response_peers: list[tuple[str, int]] = []  # the client address of each response_url post
        self.connections: list[Connection] = []  # the live ones
        self.ack_timeout = ACK_TIMEOUT
        self._limiter = _RateLimiter()
        self._responses: dict[str, ResponseTarget] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tickets: set[str] = set()  # handed out by apps.connections.open, not yet used
        self._random = random.Random(seed)  # picks the connection an envelope goes to
        self._socket_ready = asyncio.Event()
        self._ids = itertools.count(1)
        self._clock = int(time.time())
        self._changed = asyncio.Condition()
        self._background: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # -- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> SlackEmulator:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/response/{id}", self._response_url_handler)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for connection in list(self.connections):
            await connection.ws.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> SlackEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # -- people and places ----------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, is_owner: bool = False) -> User:
        self.users[user_id] = User(user_id, name, is_admin, is_owner)
        return self.users[user_id]

    def hold(self, method: str) -> asyncio.Event:
        """Make calls of ``method`` (a Web API method, or ``"response_url"``) wait until the returned event is
        set: the bot's work after an ack stands still, so a test can see that the ack came first."""
        return self._holds.setdefault(method, asyncio.Event())

    async def _held(self, method: str) -> None:
        if (gate := self._holds.get(method)) is not None:
            await gate.wait()

    def _next_ts(self) -> str:
        return f"{self._clock}.{next(self._ids):06d}"

    # -- what tests read ------------------------------------------------------------------------------

    def channel_messages(self, channel: str, *, thread_ts: str | None = None) -> list[Message]:
        """Messages in ``channel`` (top level, or replies in ``thread_ts``), oldest first."""
        return [
            m for m in self.messages.values()
            if m.channel == channel and (m.thread_ts == thread_ts if thread_ts else m.thread_ts is None)
        ]

    def bot_replies(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.channel_messages(channel, thread_ts=thread_ts) if m.bot]

    def ephemerals_for(self, user: str, *, channel: str | None = None) -> list[Ephemeral]:
        return [
            e for e in self.ephemerals
            if e.user == user and not e.deleted and (channel is None or e.channel == channel)
        ]

    def call_count(self, method: str) -> int:
        """Successful calls of ``method``."""
        return sum(1 for call in self.calls if call.method == method and call.status == 200 and call.error is None)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` returns something truthy (re-checked after every change); return it."""
        async def check() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(check(), timeout)

    async def _touch(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- Web API ----------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or args.get("token", "")
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return self._record(method, args, 200, {"ok": False, "error": "invalid_auth"})
        window = self.rate_limits.get(method)
        key: tuple[str, ...] = (self.team_id, method)
        if method == "chat.postMessage":
            window, key = POST_MESSAGE_PER_CHANNEL, (self.team_id, method, str(args.get("channel")))
        if window is not None and (wait := self._limiter.check(key, window)) > 0:
            self.throttled[method] += 1
            response = web.json_response({"ok": False, "error": "ratelimited"}, status=429)
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            self.calls.append(ApiCall(method, args, 429, "ratelimited"))
            return response
        await self._held(method)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None or (method.endswith("Stream") and not self.native_streaming):
            return self._record(method, args, 200, {"ok": False, "error": "unknown_method"})
        try:
            body = await handler(args)
        except SlackError as exc:
            body = {"ok": False, "error": exc.error}
            if exc.detail:
                body["response_metadata"] = {"messages": [exc.detail]}
        response = self._record(method, args, 200, body)
        await self._touch()
        return response

    def _record(self, method: str, args: dict[str, Any], status: int, body: dict[str, Any]) -> web.Response:
        self.calls.append(ApiCall(method, args, status, None if body.get("ok") else body.get("error")))
        return web.json_response(body, status=status)

    async def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True, "url": "https://course.example/", "team": "Course", "user": "coursebot",
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": BOT_ID, "is_enterprise_install": False,
        }

    async def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = f"ticket-{next(self._ids)}"
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={ticket}"}

    async def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        if channel in self.closed_channels:
            raise SlackError("not_in_channel")
        version = _version(args, text_max=None)
        message = Message(channel, self._next_ts(), self.bot_user_id, args.get("thread_ts"), [version], bot=True)
        self.messages[(channel, message.ts)] = message
        self._echo({"type": "message", **self._event_message(message)})
        return {"ok": True, "channel": channel, "ts": message.ts, "message": self._event_message(message)}

    async def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        version = _version(args, text_max=TEXT_MAX_UPDATE)
        message.versions.append(version)
        message.streaming = False
        self._echo({
            "type": "message", "subtype": "message_changed", "channel": message.channel, "hidden": True,
            "message": self._event_message(message), "ts": self._next_ts(),
        })
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": version.text}

    async def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, user = _required(args, "channel"), _required(args, "user")
        if user not in self.users:
            raise SlackError("user_not_in_channel")
        ephemeral = Ephemeral(next(self._ids), channel, user, args.get("thread_ts"), [_version(args, text_max=None)])
        self.ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": self._next_ts()}

    async def _m_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = _required(args, "channel"), _required(args, "thread_ts")
        if not channel.startswith("D") and not (args.get("recipient_team_id") and args.get("recipient_user_id")):
            raise SlackError("missing_recipient_user_id")
        markdown = str(args.get("markdown_text") or "")
        _limit_markdown(markdown)
        message = Message(channel, self._next_ts(), self.bot_user_id, thread_ts, [Version("", [], markdown)],
                          streaming=True, bot=True, started=time.monotonic())
        self.messages[(channel, message.ts)] = message
        return {"ok": True, "channel": channel, "ts": message.ts}

    async def _m_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(args)
        delta = str(_required(args, "markdown_text"))
        _limit_markdown(delta)
        if len((message.latest.markdown + delta).encode()) > STREAM_SIZE_MAX:
            raise SlackError("msg_too_long")
        message.versions.append(Version("", [], message.latest.markdown + delta))
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    async def _m_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(args)
        delta = str(args.get("markdown_text") or "")
        _limit_markdown(delta)
        if len((message.latest.markdown + delta).encode()) > STREAM_SIZE_MAX:
            raise SlackError("msg_too_long")
        blocks = _blocks(args)
        message.versions.append(Version("", blocks, message.latest.markdown + delta))
        message.streaming = False
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": self._event_message(message)}

    async def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _required(args, "user_id")
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments", "view.type must be home")
        validate_blocks(view.get("blocks", []))
        if len(view.get("blocks", [])) > 100:
            raise SlackError("invalid_blocks")
        self.views[user].append(view)
        return {"ok": True, "view": {"id": f"V{next(self._ids)}", **view}}

    async def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._triggers.pop(str(_required(args, "trigger_id")), None)
        if user is None:
            raise SlackError("invalid_trigger_id")  # unknown, or used already
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments", "view.type must be modal")
        for name in ("title", "submit", "close"):
            label = view.get(name)
            if label is None and name != "title":
                continue
            if not isinstance(label, dict) or label.get("type") != "plain_text" or not label.get("text"):
                raise SlackError("invalid_arguments", f"view.{name} must be plain_text")
            _limit(label["text"], MODAL_TITLE_MAX, f"[json-pointer:/view/{name}/text]")
        _limit(view.get("callback_id", ""), ACTION_ID_MAX, "[json-pointer:/view/callback_id]")
        _limit(view.get("private_metadata", ""), PRIVATE_METADATA_MAX, "[json-pointer:/view/private_metadata]")
        validate_blocks(view.get("blocks", []))
        if not view.get("blocks") or len(view["blocks"]) > 100:
            raise SlackError("invalid_blocks", "a modal has 1..100 blocks")
        if any(b.get("type") == "input" for b in view["blocks"]) and "submit" not in view:
            raise SlackError("invalid_arguments", "a modal with inputs needs view.submit")
        opened = {"id": f"V{next(self._ids)}", "team_id": self.team_id, **view}
        self.modals[user].append(opened)
        return {"ok": True, "view": opened}

    async def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(_required(args, "user"))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": {
            "id": user.id, "team_id": self.team_id, "name": user.name, "real_name": user.name,
            "is_admin": user.is_admin, "is_owner": user.is_owner, "is_bot": user.id == self.bot_user_id,
            "profile": {"display_name": user.name, "real_name": user.name},
        }}

    async def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        self.statuses.append({k: args.get(k) for k in ("channel_id", "thread_ts", "status")})
        return {"ok": True}

    async def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(_required(args, "users"))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("U")}}

    async def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = _required(args, "channel")
        return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_channel": True}}

    async def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = _required(args, "channel"), _required(args, "ts")
        replies = [self.messages[(channel, ts)]] if (channel, ts) in self.messages else []
        replies += self.channel_messages(channel, thread_ts=ts)
        return {"ok": True, "messages": [self._event_message(m) for m in replies], "has_more": False}

    async def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = Upload(file_id, _required(args, "filename"), int(_required(args, "length")))
        return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    async def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(_required(args, "files"))
        done = []
        for item in files:
            upload = self.uploads.get(item.get("id", ""))
            if upload is None or len(upload.content) != upload.length:
                raise SlackError("file_not_found" if upload is None else "file_upload_size_mismatch")
            upload.title = item.get("title") or upload.filename
            upload.channel = args.get("channel_id")
            upload.initial_comment = args.get("initial_comment") or ""
            upload.completed = True
            done.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
        return {"ok": True, "files": done}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            upload.content = await part.read() if part is not None else b""  # type: ignore[union-attr]
        else:
            upload.content = await request.read()
        await self._touch()
        return web.Response(text="OK - " + str(len(upload.content)))

    def _message(self, args: dict[str, Any]) -> Message:
        message = self.messages.get((_required(args, "channel"), _required(args, "ts")))
        if message is None:
            raise SlackError("message_not_found")
        if not message.bot:
            raise SlackError("cant_update_message")
        return message

    def _streaming(self, args: dict[str, Any]) -> Message:
        message = self._message(args)
        if message.streaming and time.monotonic() - message.started > self.stream_lifetime:
            message.stream_expired, message.streaming = True, False
        if not message.streaming or message.stream_expired:
            raise SlackError("message_not_in_streaming_state")
        return message

    def expire_streams(self) -> int:
        """End every open native stream as Slack does after a few minutes; return how many."""
        open_streams = [m for m in self.messages.values() if m.streaming and not m.stream_expired]
        for message in open_streams:
            message.stream_expired = True
            message.streaming = False
        return len(open_streams)

    # -- response_url --------------------------------------------------------------------------------

    def _response_url(self, target: ResponseTarget) -> str:
        key = f"R{next(self._ids)}"
        self._responses[key] = target
        return f"http://127.0.0.1:{self.port}/response/{key}"

    async def _response_url_post(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        target = self._responses.get(key)
        if target is None:
            return 404, "no_such_url"
        target.uses += 1
        if target.uses > 5:
            return 404, "used_too_many_times"
        try:
            version = _version(body, text_max=None)
        except SlackError as exc:
            return 400, exc.error
        if body.get("delete_original"):
            if target.ephemeral is not None:
                target.ephemeral.deleted = True
            return 200, "ok"
        if body.get("response_type") == "in_channel" and not body.get("replace_original"):
            message = Message(target.channel, self._next_ts(), self.bot_user_id, None, [version], bot=True)
            self.messages[(target.channel, message.ts)] = message
        elif body.get("replace_original") and target.ephemeral is not None:
            target.ephemeral.versions.append(version)
        elif body.get("replace_original") and target.message is not None:
            target.message.versions.append(version)
        else:
            ephemeral = Ephemeral(next(self._ids), target.channel, target.user, None, [version])
            self.ephemerals.append(ephemeral)
            if target.message is None and target.ephemeral is None:  # a command's reply: later ones replace it
                target.ephemeral = ephemeral
        return 200, "ok"

    async def _response_url_handler(self, request: web.Request) -> web.Response:
        self.response_peers.append(request.transport.get_extra_info("peername")[:2])
        await self._held("response_url")
        status, text = await self._response_url_post(request.match_info["id"], await request.json())
        await self._touch()
        return web.Response(status=status, text=text)

    # -- Socket Mode ---------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket: call apps.connections.open")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if len(self.connections) >= MAX_CONNECTIONS:
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "too_many_websockets",
                                          "debug_info": {"host": "emulator"}}))
            await ws.close()
            return ws
        self.socket_connections += 1
        connection = Connection(self.socket_connections, ws)
        self.connections.append(connection)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": len(self.connections),
                                      "debug_info": {"host": "emulator"}}))
        self._socket_ready.set()
        await self._touch()
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                ack = json.loads(frame.data)
                future = self._pending_acks.pop(ack.get("envelope_id", ""), None)
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self.connections.remove(connection)
            if not self.connections:
                self._socket_ready.clear()
        return ws

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._socket_ready.wait(), timeout)

    # -- delivering to the bot ----------------------------------------------------------------------

    async def deliver(self, kind: str, payload: dict[str, Any], *, mode: Mode, secret: str | None = None,
                      timeout: float = 5.0, retry: int = 0, to: Connection | None = None) -> tuple[int, Any]:
        """Send one request to the bot and return (status, response body / ack payload).

        ``kind``: ``slash_commands``, ``interactive`` or ``events_api``. Socket Mode: an envelope over one of the
        app's connections, waiting for its ack (status 200 when acked; redelivered while not acked, see
        ``_deliver_by_socket``; ``timeout`` bounds the whole wait). HTTP mode: a signed POST (form fields for slash
        commands, ``payload=<json>`` for interactivity, JSON for events) signed with ``secret`` (default: the
        right one). ``retry``: Slack's redelivery number (``retry_attempt`` in the envelope, ``X-Slack-Retry-Num``
        over HTTP), as when an event was not acknowledged in time. ``to``: the Socket Mode connection the first
        attempt goes to (a test placing an event on a chosen process; redeliveries are chosen at random).
        """
        reason = "http_timeout" if retry else ""
        if mode == "socket":
            ack = await self._deliver_by_socket(kind, payload, retry=retry, timeout=timeout, to=to)
            self.deliveries.append((kind, 0))
            return 200, ack.get("payload")
        if self.bot_url is None or self._session is None:
            raise RuntimeError("set bot_url for HTTP mode")
        if kind == "slash_commands":
            body, content_type = urllib.parse.urlencode(payload), "application/x-www-form-urlencoded"
        elif kind == "interactive":
            body = urllib.parse.urlencode({"payload": json.dumps(payload)})
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = json.dumps(payload), "application/json"
        timestamp = str(int(time.time()))
        signature = sign(secret if secret is not None else self.signing_secret, timestamp, body)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": signature}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason}
        async with self._session.post(self.bot_url, data=body.encode(), headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            text = await response.text()
            self.deliveries.append((kind, response.status))
            try:
                return response.status, json.loads(text) if text else None
            except json.JSONDecodeError:
                return response.status, text

    async def _deliver_by_socket(self, kind: str, payload: dict[str, Any], *, retry: int,
                                 timeout: float, to: Connection | None = None) -> dict[str, Any]:
        """Hand an envelope to one live connection at random until one acks it; return the ack.

        Unacked within ``ack_timeout``, it goes again (``retry_attempt`` + 1, a connection chosen again), up to
        MAX_RETRIES times; ``timeout`` bounds the whole wait. A late ack of an earlier attempt counts too.
        """
        acked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        envelope_ids: list[str] = []

        async def attempts() -> dict[str, Any]:
            for attempt in range(retry, max(retry, MAX_RETRIES) + 1):
                if acked.done():  # a late ack of the previous attempt
                    return acked.result()
                if not self.connections:
                    raise RuntimeError("the bot has no Socket Mode connection")
                connection = to if to is not None and attempt == retry else self._random.choice(self.connections)
                envelope_ids.append(envelope_id := f"env-{next(self._ids)}")
                self._pending_acks[envelope_id] = acked
                envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                            "accepts_response_payload": kind != "events_api", "retry_attempt": attempt,
                            "retry_reason": "http_timeout" if attempt else ""}
                connection.envelopes.append(envelope)
                with contextlib.suppress(ConnectionResetError):  # a closing connection: its ack never comes
                    await connection.ws.send_str(json.dumps(envelope))
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(acked), self.ack_timeout)
            raise TimeoutError(f"no connection acked the {kind} envelope after {MAX_RETRIES} retries")

        try:
            return await asyncio.wait_for(attempts(), timeout)
        finally:
            for envelope_id in envelope_ids:
                self._pending_acks.pop(envelope_id, None)

    async def slash(self, command: str, text: str, *, user: str, channel: str = "CCOURSE", mode: Mode = "socket",
                    secret: str | None = None) -> tuple[int, Any]:
        """A person types ``/command text`` in ``channel``."""
        payload = {
            "token": "verification-token", "team_id": self.team_id, "team_domain": "course",
            "channel_id": channel, "channel_name": channel.lower(), "user_id": user,
            "user_name": self.users[user].name, "command": command, "text": text, "api_app_id": "ACOURSE",
            "is_enterprise_install": "false",
            "response_url": self._response_url(ResponseTarget(channel, user)),
            "trigger_id": self._trigger(user),
        }
        return await self.deliver("slash_commands", payload, mode=mode, secret=secret)

    async def click(self, where: Message | Ephemeral, *, user: str, action_id: str | None = None,
                    value: str | None = None, text: str | None = None, mode: Mode = "socket",
                    secret: str | None = None, to: Connection | None = None) -> tuple[int, Any]:
        """A person presses the button of ``where`` that matches ``action_id`` / ``value`` / button ``text``
        (``to``: over that Socket Mode connection, see ``deliver``)."""
        candidates = [
            b for b in buttons(where.blocks)
            if (action_id is None or b.get("action_id") == action_id)
            and (value is None or b.get("value") == value)
            and (text is None or b["text"]["text"] == text)
        ]
        if not candidates:
            raise LookupError(f"no such button in {where.blocks!r}")
        button = candidates[0]
        action_ts = f"{time.time():.6f}"
        if isinstance(where, Message):
            target = ResponseTarget(where.channel, user, message=where)
            container = {"type": "message", "message_ts": where.ts, "channel_id": where.channel,
                         "is_ephemeral": False}
            message: dict[str, Any] | None = self._event_message(where)
        else:
            target = ResponseTarget(where.channel, user, ephemeral=where)
            container = {"type": "message", "message_ts": self._next_ts(), "channel_id": where.channel,
                         "is_ephemeral": True}
            message = None
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": self.users[user].name, "name": self.users[user].name,
                     "team_id": self.team_id},
            "api_app_id": "ACOURSE", "token": "verification-token", "container": container,
            "trigger_id": self._trigger(user),
            "team": {"id": self.team_id, "domain": "course"}, "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": where.channel, "name": where.channel.lower()},
            "response_url": self._response_url(target),
            "actions": [{
                "action_id": button["action_id"], "block_id": button["block_id"], "text": button["text"],
                "value": button.get("value", ""), "type": button.get("type", "button"), "action_ts": action_ts,
            }],
        }
        if message is not None:
            payload["message"] = message
        return await self.deliver("interactive", payload, mode=mode, secret=secret, to=to)

    def _trigger(self, user: str) -> str:
        """A trigger_id for a modal, usable once (Slack's also expire after 3 s; tests do not wait that long)."""
        trigger = f"trigger-{next(self._ids)}"
        self._triggers[trigger] = user
        return trigger

    async def submit_view(self, user: str, view: dict[str, Any], values: dict[str, str], *,
                          mode: Mode = "socket") -> tuple[int, Any]:
        """``user`` fills in the text inputs of the modal ``view`` (values by block_id) and presses its submit
        button; returns the bot's answer (its ack payload: ``response_action`` errors, or nothing)."""
        state = {
            block["block_id"]: {block["element"]["action_id"]: {"type": "plain_text_input",
                                                                "value": values.get(block["block_id"]) or None}}
            for block in view.get("blocks", []) if block.get("type") == "input"
        }
        payload = {
            "type": "view_submission", "team": {"id": self.team_id, "domain": "course"},
            "user": {"id": user, "username": self.users[user].name, "name": self.users[user].name,
                     "team_id": self.team_id},
            "api_app_id": "ACOURSE", "token": "verification-token", "trigger_id": self._trigger(user),
            "view": {**view, "state": {"values": state}, "hash": f"h{next(self._ids)}"},
            "response_urls": [], "is_enterprise_install": False, "enterprise": None,
        }
        return await self.deliver("interactive", payload, mode=mode)

    async def say(self, text: str, *, user: str, channel: str = "CCOURSE", thread_ts: str | None = None,
                  mode: Mode = "socket", secret: str | None = None) -> Message:
        """A person posts ``text`` (in ``thread_ts``'s thread); the bot gets the ``message`` event (signed with
        ``secret`` in HTTP mode; see :meth:`deliver`)."""
        message = Message(channel, self._next_ts(), user, thread_ts, [Version(text, [], "")])
        self.messages[(channel, message.ts)] = message
        event = {"type": "message", **self._event_message(message),
                 "client_msg_id": f"client-{next(self._ids)}", "channel_type": "channel"}
        self.message_events[(channel, message.ts)] = payload = self._event_callback(event)
        await self.deliver("events_api", payload, mode=mode, secret=secret)
        await self._touch()
        return message

    async def open_home(self, user: str, *, mode: Mode = "socket") -> tuple[int, Any]:
        event = {"type": "app_home_opened", "user": user, "channel": "D" + user.lstrip("U"), "tab": "home",
                 "event_ts": self._next_ts()}
        return await self.deliver("events_api", self._event_callback(event), mode=mode)

    def _event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "verification-token", "team_id": self.team_id, "api_app_id": "ACOURSE", "event": event,
            "type": "event_callback", "event_id": f"Ev{next(self._ids):08d}", "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }

    def _event_message(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = {"user": message.user, "text": message.text, "ts": message.ts,
                                "channel": message.channel, "team": self.team_id}
        if message.latest.blocks:
            data["blocks"] = message.latest.blocks
        if message.thread_ts:
            data["thread_ts"] = message.thread_ts
        if message.bot:
            data["bot_id"] = BOT_ID
            data["app_id"] = "ACOURSE"
        return data

    def _echo(self, event: dict[str, Any]) -> None:
        """Slack tells the app about its own messages too; deliver them like any event (not awaited)."""
        if not self.echo_bot_events or (not self.connections and self.bot_url is None):
            return
        mode: Mode = "socket" if self.connections else "http"
        task = asyncio.get_running_loop().create_task(self._echo_send(event, mode))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _echo_send(self, event: dict[str, Any], mode: Mode) -> None:
        try:
            await self.deliver("events_api", self._event_callback(event), mode=mode)
        except (TimeoutError, aiohttp.ClientError, RuntimeError, ConnectionError):
            pass  # the bot may be shutting down; Slack would retry, tests do not need it


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature: ``v0=`` + HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


async def _arguments(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(await request.post())
    return args


def _required(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments", f"missing required field: {name}")
    return value


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    validate_blocks(blocks)
    return blocks


def _limit_markdown(markdown: str) -> None:
    if len(markdown) > MARKDOWN_MAX:
        raise SlackError("msg_too_long", f"markdown_text must be at most {MARKDOWN_MAX} characters")


def _version(args: dict[str, Any], *, text_max: int | None) -> Version:
    text = str(args.get("text") or "")
    markdown = str(args.get("markdown_text") or "")
    if text_max is not None and len(text) > text_max:
        raise SlackError("msg_too_long")
    _limit_markdown(markdown)
    blocks = _blocks(args)
    if markdown and (text or blocks):
        raise SlackError("invalid_arguments", "markdown_text cannot be used with text or blocks")
    if not (text or markdown or blocks):
        raise SlackError("no_text")
    return Version(text, blocks, markdown or "\n".join(b["text"] for b in blocks if b.get("type") == "markdown"))
