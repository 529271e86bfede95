"""A wire-level Discord emulator: REST under ``/api/v10`` and a gateway websocket, on 127.0.0.1.

The real discord.py client talks to it unchanged (``Route.BASE`` and ``DEFAULT_GATEWAY`` point here).
It keeps guilds (one to start with; ``add_guild``/``add_guilds`` for more) with roles, members and text
channels, and stores what the bot does: channels,
threads, messages with every version of every message (``Message.versions``), interaction responses
and followups, file attachments, slash-command registrations and role grants. It rejects what Discord
rejects (HTTP 400 ``{"code": 50035, "errors": ..., "message": "Invalid Form Body"}``) and enforces
per-channel create/edit buckets and the global limit with 429s carrying ``X-RateLimit-*`` and ``Via``
headers; ``rate_limited`` counts every 429 so tests can assert there were none. The gateway refuses the
Message Content intent when ``message_content_allowed`` is off (close 4014, as for a bot without it in the
Developer Portal), blanks message content for a session without it, and resumes a dropped session
(``drop_connections()``; missed events are not replayed). MESSAGE_UPDATE is not emulated.

Sharding works as on Discord: ``GET /gateway/bot`` recommends ``shard_count`` shards, an IDENTIFY carries
``shard: [shard_id, shard_count]`` (a bad tuple is closed with 4010), and each session receives only the events
of the guilds its shard owns (``(guild_id >> 22) % shard_count == shard_id``; direct messages go to shard 0).
Any number of sessions, from any number of processes, may be connected at once; they share one REST budget,
as every shard and process of a bot token does.

Tests drive it with ``slash()``, ``click()`` and ``say()`` and wait with ``wait_until()``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from aiohttp import BodyPartReader, WSMsgType, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
MESSAGE_CONTENT_INTENT = 1 << 15
EPHEMERAL = 1 << 6
LOADING = 1 << 7
COMPONENTS_V2 = 1 << 15
ALL_PERMISSIONS = (1 << 53) - 1
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
CREATE_PRIVATE_THREADS = 1 << 36
BASIC_PERMISSIONS = (1 << 10) | SEND_MESSAGES | (1 << 16) | (1 << 38) | (1 << 35) | (1 << 31)

PAYLOAD = web.RequestKey("payload", object)  # the parsed JSON body, set by the middleware

DM_CHANNEL = 1  # a direct message between the bot and one user
USER_OPTION = 6  # a slash-command option whose value is a user


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


class _Snowflakes:
    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self, *, shard: tuple[int, int] | None = None) -> int:
        """A new id; with ``shard=(shard_id, shard_count)``, one that this shard owns (a guild's id)."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if shard is not None:
            shard_id, shard_count = shard
            ms += (shard_id - ms) % shard_count  # a millisecond or a few ahead, on the wanted shard
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


def _guild_id(data: dict[str, Any]) -> int | None:
    """The guild an event belongs to (None: a direct message)."""
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id else None


class FormError(Exception):
    """A payload Discord would refuse with 50035 Invalid Form Body."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def _field_error(path: list[str | int], code: str, message: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {str(key): tree}
    return tree


def _max_len(path: list[str | int], value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise FormError(_field_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."))


def validate_modal(data: dict[str, Any]) -> None:
    """A modal (interaction response type 9): a custom_id up to 100, a title up to 45, one to five rows."""
    _max_len(["data", "custom_id"], data.get("custom_id"), 100)
    _max_len(["data", "title"], data.get("title"), 45)
    if not data.get("custom_id") or not data.get("title") or not 1 <= len(data.get("components", [])) <= 5:
        raise FormError(_field_error(["data"], "BASE_TYPE_REQUIRED", "A modal needs a custom_id, a title, 1-5 rows."))


def validate_message(payload: dict[str, Any], *, has_files: bool = False) -> None:
    """Raise FormError for anything Discord's message create/edit would reject."""
    _max_len(["content"], payload.get("content"), 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise FormError(_field_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            _max_len(["embeds", i, key], embed.get(key), limit)
            total += len(embed.get(key) or "")
        _max_len(["embeds", i, "footer", "text"], (embed.get("footer") or {}).get("text"), 2048)
        _max_len(["embeds", i, "author", "name"], (embed.get("author") or {}).get("name"), 256)
        total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise FormError(_field_error(["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH",
                                         "Must be 25 or fewer in length."))
        for j, item in enumerate(fields):
            _max_len(["embeds", i, "fields", j, "name"], item.get("name"), 256)
            _max_len(["embeds", i, "fields", j, "value"], item.get("value"), 1024)
            if not item.get("name") or not item.get("value"):
                raise FormError(_field_error(["embeds", i, "fields", j], "BASE_TYPE_REQUIRED",
                                             "This field is required"))
            total += len(item["name"]) + len(item["value"])
    if total > 6000:
        raise FormError(_field_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
    _validate_components(payload.get("components"), v2=bool((payload.get("flags") or 0) & COMPONENTS_V2))
    if payload.get("content") == "" and not embeds and not payload.get("components") and not has_files:
        raise FormError(_field_error(["content"], "BASE_TYPE_REQUIRED", "Cannot send an empty message"))


def _validate_components(components: list[dict[str, Any]] | None, *, v2: bool) -> None:
    if not components:
        return
    seen: set[str] = set()
    count = 0
    text = 0

    def walk(items: list[dict[str, Any]], path: list[str | int]) -> None:
        nonlocal count, text
        for i, item in enumerate(items):
            count += 1
            here = [*path, i]
            if item.get("type") == 2:
                _max_len([*here, "label"], item.get("label"), 80)
                custom_id = item.get("custom_id")
                if item.get("style") != 5 and not custom_id:
                    raise FormError(_field_error([*here, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required"))
                if custom_id is not None:
                    _max_len([*here, "custom_id"], custom_id, 100)
                    if custom_id in seen:
                        raise FormError(_field_error([*here, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED",
                                                     "Component custom id cannot be duplicated"))
                    seen.add(custom_id)
            if item.get("type") == 10:
                text += len(item.get("content") or "")
            children = item.get("components")
            if item.get("type") == 1 and (not children or len(children) > 5):
                raise FormError(_field_error([*here, "components"], "BASE_TYPE_BAD_LENGTH",
                                             "Must be between 1 and 5 in length."))
            if children:
                walk(children, [*here, "components"])

    if not v2 and len(components) > 5:
        raise FormError(_field_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
    walk(components, ["components"])
    if v2 and (count > 40 or text > 4000):
        raise FormError(_field_error(["components"], "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                     "The specified component exceeds the maximum size"))


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    roles: list[int] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.name, "discriminator": "0", "global_name": self.name,
                "avatar": None, "bot": self.bot, "public_flags": 0, "flags": 0}

    def member(self, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.payload(), "nick": None, "roles": [str(r) for r in self.roles], "joined_at": _now_iso(),
            "deaf": False, "mute": False, "flags": 0, "pending": False, "avatar": None,
            "communication_disabled_until": None, "premium_since": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


def _body(data: dict[str, Any]) -> str:
    embeds = data.get("embeds") or []
    return data.get("content") or (embeds[0].get("description") or "" if embeds else "")


@dataclass
class Message:
    """A message and every version of it (``versions[i]`` is a copy of ``data`` after change i)."""

    data: dict[str, Any]
    ephemeral: bool = False
    visible_to: int | None = None  # the only user who sees an ephemeral message
    versions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components") or []

    @property
    def contents(self) -> list[str]:
        """The content of every version, oldest first: what learners saw."""
        return [v.get("content") or "" for v in self.versions]

    @property
    def body(self) -> str:
        """The message's main text: its content, or its first embed's description (a lab answer)."""
        return _body(self.data)

    @property
    def bodies(self) -> list[str]:
        """``body`` of every version, oldest first."""
        return [_body(v) for v in self.versions]

    def buttons(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("type") == 2:
                    found.append(item)
                walk(item.get("components") or [])
                if accessory := item.get("accessory"):
                    walk([accessory])

        walk(self.components)
        return found

    def button(self, label: str) -> dict[str, Any]:
        """The button whose label is ``label`` (or starts with it)."""
        for button in self.buttons():
            if (button.get("label") or "").startswith(label):
                return button
        raise KeyError(f"no button {label!r} on message {self.id}: {[b.get('label') for b in self.buttons()]}")

    def text(self) -> str:
        """Content plus every embed's visible text: handy for assertions."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields") or []]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    user: User
    channel_id: int
    data: dict[str, Any]
    message: Message | None = None  # the message a component sat on
    responses: list[dict[str, Any]] = field(default_factory=list)  # callback payloads, in order
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)

    @property
    def replies(self) -> list[Message]:
        """Every message the bot showed in answer: the original response then the followups."""
        return ([self.original] if self.original else []) + self.followups

    @property
    def response_type(self) -> int | None:
        return self.responses[0]["type"] if self.responses else None


@dataclass
class Guild:
    """A server: its roles (``@everyone`` has the guild's id), its members' ids and its first text channel."""

    id: int
    name: str
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)
    general: int = 0


@dataclass
class Session:
    """One identified gateway session: shard ``shard[0]`` of ``shard[1]`` (0 of 1 when the bot is unsharded)."""

    socket: web.WebSocketResponse
    session_id: str
    intents: int
    shard: tuple[int, int] = (0, 1)
    seq: int = 0
    events: list[tuple[str, int | None]] = field(default_factory=list)  # (event, guild id) sent, in order

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session receives the events of ``guild_id`` (None: a direct message, shard 0's)."""
        return self.shard[0] == (0 if guild_id is None else shard_of(guild_id, self.shard[1]))


@dataclass
class _Bucket:
    limit: int
    per: float
    remaining: int = 0
    reset_at: float = 0.0


class DiscordEmulator:
    """One bot application in its guilds, and the REST + gateway endpoints the bot uses.

    ``guild_id``, ``roles`` and ``general`` are the first guild's, where single-guild tests work.
    """

    def __init__(self, *, token: str = "emulator-token", edit_limit: tuple[int, float] = (5, 5.0),
                 create_limit: tuple[int, float] = (5, 5.0), global_limit: tuple[int, float] = (50, 1.0),
                 private_threads: bool = True, message_content_allowed: bool = True, shard_count: int = 1) -> None:
        self.token = token
        self.snowflake = _Snowflakes()
        self.app_id = self.snowflake()
        self.bot = User(self.snowflake(), "CourseBot", bot=True)
        self.owner = User(self.snowflake(), "Owner")
        self.users: dict[int, User] = {self.bot.id: self.bot, self.owner.id: self.owner}
        self.channels: dict[int, dict[str, Any]] = {}
        self.thread_members: dict[int, set[int]] = {}
        self.guilds: dict[int, Guild] = {}
        first = self.add_guild("Course Guild")
        self.guild_id, self.roles, self.general = first.id, first.roles, first.general
        self.shard_count = shard_count  # what GET /gateway/bot recommends
        self.messages: dict[int, Message] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> commands
        self.files: dict[int, bytes] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json payload or None)
        self.rate_limited = 0
        self.typing_count = 0
        self.private_threads = private_threads
        self.message_content_allowed = message_content_allowed  # False: IDENTIFY asking for it is closed 4014
        self.identified_intents: list[int] = []  # the intents of every accepted IDENTIFY, in order
        self._limits = {"create": create_limit, "edit": edit_limit}
        self._global_limit = global_limit
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self.sessions: list[Session] = []  # the connected sessions, after IDENTIFY or RESUME
        self.identified = 0
        self.resumed = 0
        self._resumable: dict[str, Session] = {}  # session id -> session, for RESUME
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- world -----------------------------------------------------------------------------------

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> Guild:
        """A guild the bot and the owner are in, with a ``general`` channel; ``shard=(shard_id, shard_count)``
        gives it an id that shard owns."""
        guild = Guild(self.snowflake(shard=shard), name, members={self.bot.id, self.owner.id})
        self.guilds[guild.id] = guild
        self.add_role("@everyone", BASIC_PERMISSIONS | CREATE_PRIVATE_THREADS, role_id=guild.id, guild_id=guild.id)
        guild.general = self.add_channel("general", guild_id=guild.id)
        return guild

    def add_guilds(self, count: int, *, users: int = 0, shard_count: int | None = None) -> list[Guild]:
        """``count`` more guilds dealt round-robin over ``shard_count`` shards (default: the recommended
        count), each with ``users`` members (see ``members``)."""
        shards = shard_count or self.shard_count
        made = []
        for n in range(count):
            guild = self.add_guild(f"Guild {len(self.guilds) + 1}", shard=(n % shards, shards))
            for _ in range(users):
                self.add_user(f"learner{len(self.users)}", guild_id=guild.id)
            made.append(guild)
        return made

    def members(self, guild_id: int) -> list[User]:
        """The guild's members other than the bot and the owner, oldest first."""
        return [u for u in self.users.values() if u.id in self.guilds[guild_id].members
                and u not in (self.bot, self.owner)]

    def add_role(self, name: str, permissions: int = 0, *, role_id: int | None = None,
                 guild_id: int | None = None) -> int:
        """A role in ``guild_id`` (default: the first guild)."""
        roles = self.guilds[guild_id or self.guild_id].roles
        role_id = role_id or self.snowflake()
        roles[role_id] = {
            "id": str(role_id), "name": name, "color": 0, "hoist": False, "icon": None, "unicode_emoji": None,
            "position": len(roles), "permissions": str(permissions), "managed": False,
            "mentionable": False, "flags": 0,
        }
        return role_id

    def add_user(self, name: str, *, roles: tuple[int, ...] = (), bot: bool = False,
                 guild_id: int | None = None) -> User:
        """A user who is a member of ``guild_id`` (default: the first guild); ``join`` adds more guilds."""
        user = User(self.snowflake(), name, bot=bot, roles=list(roles))
        self.users[user.id] = user
        self.join(user, guild_id or self.guild_id)
        return user

    def join(self, user: User, guild_id: int) -> None:
        self.guilds[guild_id].members.add(user.id)

    def add_channel(self, name: str, *, guild_id: int | None = None) -> int:
        """A text channel in ``guild_id`` (default: the first guild)."""
        channel_id = self.snowflake()
        self.channels[channel_id] = {
            "id": str(channel_id), "type": 0, "guild_id": str(guild_id or self.guild_id), "name": name,
            "position": len(self.channels), "permission_overwrites": [], "parent_id": None, "topic": None,
            "nsfw": False, "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
        }
        return channel_id

    def permissions(self, user: User, guild_id: int | None = None) -> int:
        """The user's permissions in ``guild_id`` (default: the first guild), from that guild's roles."""
        if user.id == self.owner.id:
            return ALL_PERMISSIONS
        roles = self.guilds[guild_id or self.guild_id].roles
        value = 0
        for role_id in [guild_id or self.guild_id, *user.roles]:
            if role_id in roles:
                value |= int(roles[role_id]["permissions"])
        return ALL_PERMISSIONS if value & (1 << 3) else value

    def guild_of(self, channel_id: int) -> int | None:
        """The guild a channel or thread belongs to (None: a direct message)."""
        guild_id = self.channels[channel_id].get("guild_id")
        return int(guild_id) if guild_id else None

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] in (11, 12)]

    def channel_messages(self, channel_id: int) -> list[Message]:
        """The channel's visible (non-ephemeral, not deleted) messages, oldest first."""
        return [m for m in self.messages.values()
                if m.channel_id == channel_id and not m.ephemeral and not m.deleted]

    def guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        """GUILD_CREATE's data for ``guild_id`` (default: the first guild)."""
        guild = self.guilds[guild_id or self.guild_id]
        members = [u for u in self.users.values() if u.id in guild.members]
        return {
            "id": str(guild.id), "name": guild.name, "icon": None, "owner_id": str(self.owner.id),
            "roles": list(guild.roles.values()), "emojis": [], "stickers": [], "features": [],
            "member_count": len(members), "large": False, "unavailable": False, "joined_at": _now_iso(),
            "members": [u.member() for u in members],
            "channels": [c for c in self.channels.values() if c["type"] == 0 and c["guild_id"] == str(guild.id)],
            "threads": [t for t in self.threads() if t["guild_id"] == str(guild.id)],
            "presences": [], "voice_states": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [], "premium_tier": 0,
            "preferred_locale": "en-US", "system_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "application_id": None, "description": None,
            "banner": None, "splash": None, "discovery_splash": None, "max_members": 500000,
        }

    # -- server ----------------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024 * 1024)
        p = API_PREFIX
        app.router.add_get("/gateway", self._gateway)
        routes = [
            ("GET", "/users/@me", self._me),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/gateway", self._gateway_info),
            ("GET", "/gateway/bot", self._gateway_bot),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands),
            ("GET", "/applications/{app}/commands", self._get_commands),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self._get_commands),
            ("POST", "/interactions/{iid}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", self._followup),
            ("GET", "/webhooks/{app}/{token}/messages/{mid}", self._get_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._edit_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._delete_message),
            ("GET", "/channels/{cid}", self._get_channel),
            ("POST", "/channels/{cid}/messages", self._create_message),
            ("GET", "/channels/{cid}/messages/{mid}", self._get_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._edit_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._delete_message),
            ("POST", "/channels/{cid}/typing", self._typing),
            ("POST", "/channels/{cid}/threads", self._create_thread),
            ("PUT", "/channels/{cid}/thread-members/{uid}", self._add_thread_member),
            ("PUT", "/guilds/{guild}/members/{uid}/roles/{rid}", self._add_role),
            ("POST", "/users/@me/channels", self._create_dm),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, p + path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for session in list(self.sessions):
            await session.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, body=json.dumps(data).encode(),
                            headers={"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
        body: dict[str, Any] = {"code": code, "message": message}
        if errors is not None:
            body["errors"] = errors
        return self._json(body, status)

    def _too_many(self, bucket: _Bucket, name: str, scope: str, now: float) -> web.Response:
        self.rate_limited += 1
        retry_after = max(bucket.reset_at - now, 0.001)
        headers = {
            "Via": "1.1 google", "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": str(bucket.limit), "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}", "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": name, "X-RateLimit-Scope": scope,
        }
        if scope == "global":
            headers["X-RateLimit-Global"] = "true"
        return self._json({"message": "You are being rate limited.", "retry_after": retry_after,
                           "global": scope == "global"}, 429, headers)

    def _take(self, key: tuple[str, int], limit: tuple[int, float], now: float) -> _Bucket | None:
        """Consume one request from the bucket; the bucket when it is exhausted (caller answers 429)."""
        bucket = self._buckets.setdefault(key, _Bucket(*limit))
        if now >= bucket.reset_at:
            bucket.remaining, bucket.reset_at = bucket.limit, now + bucket.per
        if bucket.remaining <= 0:
            return bucket
        bucket.remaining -= 1
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        payload: Any = None
        if request.content_type == "application/json" and request.can_read_body:
            payload = await request.json()
        self.requests.append((request.method, request.path, payload))
        path = request.path[len(API_PREFIX):]
        bot_request = not path.startswith(("/interactions/", "/webhooks/"))
        if bot_request and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(401, 0, "401: Unauthorized")
        now = time.monotonic()
        if bot_request and (exhausted := self._take(("global", 0), self._global_limit, now)):
            return self._too_many(exhausted, "global", "global", now)
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        kind = {"POST /channels/{cid}/messages": "create",
                "PATCH /channels/{cid}/messages/{mid}": "edit"}.get(f"{request.method} {route[len(API_PREFIX):]}")
        headers: dict[str, str] = {}
        if kind is not None:
            key = (kind, int(request.match_info["cid"]))
            name = f"{kind}-{key[1]}"
            if exhausted := self._take(key, self._limits[kind], now):
                return self._too_many(exhausted, name, "user", now)
            bucket = self._buckets[key]
            reset_after = max(bucket.reset_at - now, 0.0)
            headers = {"X-RateLimit-Limit": str(bucket.limit), "X-RateLimit-Remaining": str(bucket.remaining),
                       "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                       "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": name}
        request[PAYLOAD] = payload
        try:
            response = await handler(request)
        except FormError as exc:
            response = self._error(400, 50035, "Invalid Form Body", exc.errors)
        response.headers.update(headers)
        await self._notify()
        return response

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (checked after every request); return its value."""
        async def wait() -> Any:
            async with self._changed:
                while not (value := predicate()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}") from None

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The JSON payload and uploaded files (multipart: payload_json + files[n])."""
        if request.content_type != "multipart/form-data":
            return request.get(PAYLOAD) or {}, []
        payload: dict[str, Any] = {}
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)
            if part.name == "payload_json":
                payload = json.loads(await part.text())
                continue
            data = await part.read()
            attachment_id = self.snowflake()
            self.files[attachment_id] = bytes(data)
            url = f"{self.api_base}/attachments/{attachment_id}"
            files.append({"id": str(attachment_id), "filename": part.filename, "size": len(data), "url": url,
                          "proxy_url": url,
                          "content_type": part.headers.get("Content-Type", "application/octet-stream")})
        self.requests[-1] = (request.method, request.path, payload)
        return payload, files

    # -- gateway ---------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        session: Session | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message["op"] == 1:
                    await socket.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif message["op"] == 2:
                    session = await self._identify(socket, message["d"])
                    if session is None:
                        break
                elif message["op"] == 6:  # RESUME a known session (events missed meanwhile are not replayed)
                    session = self._resumable.get(message["d"].get("session_id"))
                    if session is None or message["d"].get("token") != self.token:
                        await socket.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
                        continue
                    if session in self.sessions:  # a resume before the old socket's end was seen
                        self.sessions.remove(session)
                    session.socket = socket
                    self.sessions.append(session)
                    self.resumed += 1
                    await self._send(session, "RESUMED", {})
                    await self._notify()
        finally:
            if session is not None and session.socket is socket and session in self.sessions:
                self.sessions.remove(session)
        return socket

    async def _identify(self, socket: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        """Start a session for an IDENTIFY, or close the socket as Discord does (None)."""
        intents = int(data.get("intents", 0))
        if intents & MESSAGE_CONTENT_INTENT and not self.message_content_allowed:
            await socket.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = data.get("shard", [0, 1])
        if not (isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
                and 0 <= shard[0] < shard[1]):
            await socket.close(code=4010, message=b"Invalid shard.")
            return None
        session = Session(socket, f"session-{self.snowflake()}", intents, (shard[0], shard[1]))
        self.identified_intents.append(intents)
        self._resumable[session.session_id] = session
        guilds = [g for g in self.guilds if session.owns(g)]
        await self._send(session, "READY", {
            "v": 10, "user": self.bot.payload(), "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.session_id, "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": 0}, "private_channels": [],
            "relationships": [], "presences": [], **({"shard": shard} if "shard" in data else {}),
        })
        for guild_id in guilds:
            await self._send(session, "GUILD_CREATE", self.guild_payload(guild_id))
        self.sessions.append(session)
        self.identified += 1
        await self._notify()
        return session

    async def _send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        session.events.append((event, int(data["id"]) if event == "GUILD_CREATE" else _guild_id(data)))
        await session.socket.send_str(json.dumps({"op": 0, "t": event, "s": session.seq, "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to every connected session whose shard owns the event's guild.

        Without the Message Content intent, the content of other users' messages is blank unless it mentions
        the bot (Discord's exemption).
        """
        guild_id = _guild_id(data)
        for session in list(self.sessions):
            if not session.owns(guild_id):
                continue
            payload = data
            if event == "MESSAGE_CREATE" and not session.intents & MESSAGE_CONTENT_INTENT and \
                    data["author"]["id"] != str(self.bot.id) and \
                    not any(user["id"] == str(self.bot.id) for user in data.get("mentions", [])):
                payload = {**data, "content": ""}
            if not session.socket.closed:
                await self._send(session, event, payload)

    @property
    def connected(self) -> int:
        return len(self.sessions)

    def sessions_for(self, guild_id: int | None) -> list[Session]:
        """The connected sessions that receive ``guild_id``'s events (None: direct messages)."""
        return [s for s in self.sessions if s.owns(guild_id)]

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection as Discord does on a hiccup (4000: the bot may resume)."""
        for session in list(self.sessions):
            await session.socket.close(code=code)

    # -- REST: identity and commands ---------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        return self._json(self.bot.payload())

    async def _application(self, request: web.Request) -> web.Response:
        return self._json({
            "id": str(self.app_id), "name": "CourseBot", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": self.owner.payload(), "verify_key": "0" * 64,
            "flags": 0, "team": None, "summary": "", "rpc_origins": [], "bot": self.bot.payload(),
        })

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return self._json({"url": self.gateway_url})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        """The URL, the recommended shard count and the IDENTIFY budget (1000 a day, one at a time)."""
        return self._json({"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": {
            "total": 1000, "remaining": max(1000 - self.identified, 0), "reset_after": 86_400_000,
            "max_concurrency": 1}})

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild = int(request.match_info["guild"]) if "guild" in request.match_info else None
        registered = []
        for command in request.get(PAYLOAD) or []:
            if not re.fullmatch(r"[-_\w]{1,32}", command["name"]) or command["name"] != command["name"].lower():
                raise FormError(_field_error([len(registered), "name"], "APPLICATION_COMMAND_INVALID_NAME",
                                             "Command name is invalid"))
            _max_len([len(registered), "description"], command.get("description"), 100)
            registered.append({**command, "id": str(self.snowflake()), "application_id": str(self.app_id),
                               "version": str(self.snowflake()), "guild_id": str(guild) if guild else None,
                               "default_member_permissions": command.get("default_member_permissions"),
                               "type": command.get("type", 1), "options": command.get("options", [])})
        self.commands[guild] = registered
        return self._json(registered)

    async def _get_commands(self, request: web.Request) -> web.Response:
        guild = int(request.match_info["guild"]) if "guild" in request.match_info else None
        return self._json(self.commands.get(guild, []))

    # -- REST: messages --------------------------------------------------------------------------

    def _mentions(self, content: str, allowed: dict[str, Any] | None) -> dict[str, Any]:
        """Who the content pings, honouring allowed_mentions (absent: everything parsed)."""
        parse = set(allowed.get("parse", [])) if allowed is not None else {"everyone", "users", "roles"}
        users = {int(u) for u in (allowed or {}).get("users", [])}
        roles = {int(r) for r in (allowed or {}).get("roles", [])}
        mentioned_users = [int(u) for u in re.findall(r"<@!?(\d+)>", content)]
        mentioned_roles = [int(r) for r in re.findall(r"<@&(\d+)>", content)]
        return {
            "mention_everyone": "everyone" in parse and bool(re.search(r"@(everyone|here)", content)),
            "mentions": [self.users[u].payload() for u in mentioned_users
                         if u in self.users and ("users" in parse or u in users)],
            "mention_roles": [str(r) for r in mentioned_roles if "roles" in parse or r in roles],
        }

    def _new_message(self, channel_id: int, payload: dict[str, Any], files: list[dict[str, Any]], *,
                     author: User, ephemeral: bool = False, visible_to: int | None = None,
                     interaction: Interaction | None = None) -> Message:
        flags = int(payload.get("flags") or 0) | (EPHEMERAL if ephemeral else 0)
        guild_id = self.channels[channel_id].get("guild_id") if channel_id in self.channels else str(self.guild_id)
        data: dict[str, Any] = {
            "id": str(self.snowflake()), "channel_id": str(channel_id), **({"guild_id": guild_id} if guild_id else {}),
            "author": author.payload(), "content": payload.get("content") or "", "timestamp": _now_iso(),
            "edited_timestamp": None, "tts": False, "attachments": files, "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [], "pinned": False, "flags": flags,
            "type": 0, **self._mentions(payload.get("content") or "", payload.get("allowed_mentions")),
        }
        if interaction is not None:
            data["webhook_id"] = str(self.app_id)
            data["application_id"] = str(self.app_id)
            data["interaction_metadata"] = {"id": str(interaction.id), "type": interaction.type,
                                            "user": interaction.user.payload(),
                                            "authorizing_integration_owners": {}}
            data["type"] = 20 if interaction.type == 2 else 19 if interaction.type == 3 else 0
        if (reference := payload.get("message_reference")) is not None:
            data["type"] = 19
            data["message_reference"] = {**reference, "channel_id": str(channel_id), "guild_id": guild_id}
        message = Message(data, ephemeral=ephemeral, visible_to=visible_to)
        message.versions.append(json.loads(json.dumps(data)))
        self.messages[message.id] = message
        if channel_id in self.channels:
            self.channels[channel_id]["last_message_id"] = data["id"]
        return message

    def _apply_edit(self, message: Message, payload: dict[str, Any], files: list[dict[str, Any]]) -> None:
        data = message.data
        for key in ("content", "embeds", "components", "flags"):
            if key in payload and payload[key] is not None:
                data[key] = payload[key]
        if "attachments" in payload:
            kept = {str(a.get("id")) for a in payload["attachments"]}
            data["attachments"] = [a for a in data["attachments"] if a["id"] in kept] + files
        if message.ephemeral:
            data["flags"] = int(data.get("flags") or 0) | EPHEMERAL
        data["flags"] = int(data.get("flags") or 0) & ~LOADING
        if "content" in payload:  # mentions are parsed again only when the text changes
            data.update(self._mentions(data.get("content") or "", payload.get("allowed_mentions")))
        data["edited_timestamp"] = _now_iso()
        message.versions.append(json.loads(json.dumps(data)))

    def _channel_or_404(self, request: web.Request) -> dict[str, Any] | None:
        return self.channels.get(int(request.match_info["cid"]))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request)
        return self._json(channel) if channel else self._error(404, 10003, "Unknown Channel")

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._channel_or_404(request):
            return self._error(404, 10003, "Unknown Channel")
        payload, files = await self._body(request)
        validate_message(payload, has_files=bool(files))
        message = self._new_message(int(request.match_info["cid"]), payload, files, author=self.bot)
        await self.dispatch("MESSAGE_CREATE", message.data)
        return self._json(message.data)

    def _message_in(self, request: web.Request) -> Message | None:
        """The message a channel or interaction-webhook message route names, if the caller may see it."""
        if "token" in request.match_info:
            interaction = self._interaction_by_token(request)
            message = self._webhook_message(interaction, request.match_info["mid"]) if interaction else None
        else:
            message = self.messages.get(int(request.match_info["mid"]))
            if message is not None and message.channel_id != int(request.match_info["cid"]):
                message = None
        return None if message is None or message.deleted else message

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self._message_in(request)
        return self._json(message.data) if message else self._error(404, 10008, "Unknown Message")

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._message_in(request)
        if message is None:
            return self._error(404, 10008, "Unknown Message")
        if message.data["author"]["id"] != str(self.bot.id):
            return self._error(403, 50005, "Cannot edit a message authored by another user")
        payload, files = await self._body(request)
        validate_message({**payload, "content": payload.get("content")}, has_files=True)
        self._apply_edit(message, payload, files)
        return self._json(message.data)

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._message_in(request)
        if message is None:
            return self._error(404, 10008, "Unknown Message")
        message.deleted = True
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        self.typing_count += 1
        return web.Response(status=204)

    # -- REST: threads and roles -----------------------------------------------------------------

    async def _create_thread(self, request: web.Request) -> web.Response:
        parent = self._channel_or_404(request)
        if parent is None:
            return self._error(404, 10003, "Unknown Channel")
        if parent["type"] != 0:
            return self._error(400, 50024, "Cannot execute action on this channel type")
        payload = request.get(PAYLOAD) or {}
        _max_len(["name"], payload.get("name"), 100)
        kind = int(payload.get("type") or 12)
        if kind == 12 and not self.private_threads:
            return self._error(403, 50013, "Missing Permissions")
        thread_id = self.snowflake()
        thread = {
            "id": str(thread_id), "type": kind, "guild_id": parent["guild_id"], "parent_id": parent["id"],
            "owner_id": str(self.bot.id), "name": payload["name"], "last_message_id": None,
            "rate_limit_per_user": 0, "message_count": 0, "member_count": 1, "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": payload.get("auto_archive_duration", 4320),
                                "archive_timestamp": _now_iso(), "locked": False,
                                "invitable": payload.get("invitable", True), "create_timestamp": _now_iso()},
        }
        self.channels[thread_id] = thread
        self.thread_members[thread_id] = {self.bot.id}
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._json(thread, 201)

    async def _add_thread_member(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request)
        if channel is None or channel["type"] not in (11, 12):
            return self._error(404, 10003, "Unknown Channel")
        self.thread_members[int(request.match_info["cid"])].add(int(request.match_info["uid"]))
        return web.Response(status=204)

    async def _add_role(self, request: web.Request) -> web.Response:
        user = self.users.get(int(request.match_info["uid"]))
        role_id = int(request.match_info["rid"])
        guild = self.guilds.get(int(request.match_info["guild"]))
        if user is None or guild is None or role_id not in guild.roles:
            return self._error(404, 10011, "Unknown Role")
        if role_id not in user.roles:
            user.roles.append(role_id)
        return web.Response(status=204)

    async def _create_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels: the bot's direct-message channel with a user (the same one every time)."""
        payload, _ = await self._body(request)
        user = self.users.get(int(payload.get("recipient_id") or 0))
        if user is None:
            return self._error(400, 50033, "Invalid Recipient(s)")
        channel_id = self.dm_channel(user)
        if channel_id is None:
            channel_id = self.snowflake()
            self.channels[channel_id] = {"id": str(channel_id), "type": DM_CHANNEL, "last_message_id": None,
                                         "recipients": [user.payload()], "flags": 0}
        return self._json(self.channels[channel_id])

    def dm_channel(self, user: User) -> int | None:
        """The id of the bot's direct-message channel with ``user``, once the bot opened it."""
        return next((int(c["id"]) for c in self.channels.values()
                     if c["type"] == DM_CHANNEL and c["recipients"][0]["id"] == str(user.id)), None)

    # -- REST: interactions ----------------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return self._error(404, 10062, "Unknown interaction")
        if interaction.responses:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        payload, files = await self._body(request)
        kind = int(payload["type"])
        data = payload.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if kind in (4, 7):
            validate_message(data, has_files=bool(files))
        if kind == 9:
            validate_modal(data)
        if kind == 8 and len(data.get("choices", [])) > 25:
            raise FormError(_field_error(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
        interaction.responses.append(payload)
        resource: dict[str, Any] = {"type": kind}
        if kind == 4:
            interaction.original = self._new_message(
                interaction.channel_id, data, files, author=self.bot, ephemeral=ephemeral,
                visible_to=interaction.user.id, interaction=interaction)
            if not ephemeral:
                await self.dispatch("MESSAGE_CREATE", interaction.original.data)
        elif kind == 5:
            interaction.original = self._new_message(
                interaction.channel_id, {"content": "", "flags": LOADING | (EPHEMERAL if ephemeral else 0)}, [],
                author=self.bot, ephemeral=ephemeral, visible_to=interaction.user.id, interaction=interaction)
        elif kind == 7 and interaction.message is not None:
            self._apply_edit(interaction.message, data, files)
        if interaction.original is not None:
            resource["message"] = interaction.original.data
        elif kind == 7 and interaction.message is not None:
            resource["message"] = interaction.message.data
        body = {"interaction": {"id": str(interaction.id), "type": interaction.type,
                                "response_message_id": str(interaction.original.id) if interaction.original else None,
                                "response_message_loading": kind == 5, "response_message_ephemeral": ephemeral},
                "resource": resource}
        if request.query.get("with_response") in ("1", "true"):
            return self._json(body)
        return web.Response(status=204)

    def _interaction_by_token(self, request: web.Request) -> Interaction | None:
        if request.match_info["app"] != str(self.app_id):
            return None
        return next((i for i in self.interactions.values() if i.token == request.match_info["token"]), None)

    def _webhook_message(self, interaction: Interaction, mid: str) -> Message | None:
        if mid == "@original":
            return interaction.original or (interaction.message if interaction.type == 3 else None)
        message = self.messages.get(int(mid))
        if message in interaction.followups or message is interaction.original:
            return message
        return None

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None or not interaction.responses:
            return self._error(404, 10015, "Unknown Webhook")
        payload, files = await self._body(request)
        validate_message(payload, has_files=bool(files))
        ephemeral = bool(int(payload.get("flags") or 0) & EPHEMERAL)
        original = interaction.original
        if original is not None and original.data["flags"] & LOADING:
            # the first followup after a deferral fills in the "thinking" message
            self._apply_edit(original, payload, files)
            message = original
        else:
            message = self._new_message(interaction.channel_id, payload, files, author=self.bot,
                                        ephemeral=ephemeral, visible_to=interaction.user.id,
                                        interaction=interaction)
            interaction.followups.append(message)
            if not ephemeral:
                await self.dispatch("MESSAGE_CREATE", message.data)
        return self._json(message.data)

    # -- test helpers: inject events -------------------------------------------------------------

    def _interaction_payload(self, interaction: Interaction) -> dict[str, Any]:
        channel = self.channels[interaction.channel_id]
        if channel["type"] == DM_CHANNEL:  # a button in a direct message: no guild, the user instead of a member
            return {
                "id": str(interaction.id), "application_id": str(self.app_id), "type": interaction.type,
                "token": interaction.token, "version": 1, "channel_id": str(interaction.channel_id),
                "channel": channel, "data": interaction.data, "user": interaction.user.payload(),
                "app_permissions": str(ALL_PERMISSIONS), "locale": "en-US", "entitlements": [],
                "authorizing_integration_owners": {"1": str(interaction.user.id)}, "context": 1,
                "attachment_size_limit": 10 * 1024 * 1024,
                **({"message": interaction.message.data} if interaction.message is not None else {}),
            }
        return {
            "id": str(interaction.id), "application_id": str(self.app_id), "type": interaction.type,
            "token": interaction.token, "version": 1, "guild_id": channel["guild_id"],
            "channel_id": str(interaction.channel_id), "channel": channel, "data": interaction.data,
            "member": interaction.user.member(self.permissions(interaction.user, int(channel["guild_id"]))),
            "app_permissions": str(ALL_PERMISSIONS), "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": channel["guild_id"]}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
            **({"message": interaction.message.data} if interaction.message is not None else {}),
        }

    def _command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], int | None]:
        """The command ``name`` as registered in ``guild_id``, else globally; and where it was found."""
        for guild in (guild_id, None):
            for command in self.commands.get(guild, []):
                if command["name"] == name:
                    return command, guild
        raise KeyError(f"/{name} is not registered: {[c['name'] for cs in self.commands.values() for c in cs]}")

    async def _interact(self, interaction: Interaction) -> Interaction:
        self.interactions[interaction.id] = interaction
        await self.dispatch("INTERACTION_CREATE", self._interaction_payload(interaction))
        return interaction

    async def slash(
        self, user: User, command: str, *, channel_id: int | None = None, _kind: int = 2, **options: Any
    ) -> Interaction:
        """Invoke ``/command`` (``"course stats"`` for a subcommand) with options typed as registered.

        A user option takes a ``User`` (or its id) and is sent as Discord sends it: the id, the user in ``resolved``.
        """
        channel_id = channel_id or self.general
        name, *sub = command.split()
        spec, guild = self._command(name, self.guild_of(channel_id))
        level = spec
        path_options: list[dict[str, Any]] = []
        target = path_options
        for part in sub:
            level = next(o for o in level["options"] if o["name"] == part)
            entry = {"name": part, "type": level["type"], "options": []}
            target.append(entry)
            target = entry["options"]
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in options.items():
            option = next((o for o in level.get("options", []) if o["name"] == key), None)
            if option is None:
                raise KeyError(f"/{command} has no option {key!r}")
            if option["type"] == USER_OPTION:  # a User is sent as its id, with the user in "resolved"
                picked = value if isinstance(value, User) else self.users[int(value)]
                resolved.setdefault("users", {})[str(picked.id)] = picked.payload()
                permissions = self.permissions(picked, self.guild_of(channel_id))
                member = {k: v for k, v in picked.member(permissions).items() if k != "user"}
                resolved.setdefault("members", {})[str(picked.id)] = member
                value = str(picked.id)
            target.append({"name": key, "type": option["type"], "value": value})
        data: dict[str, Any] = {"id": spec["id"], "name": name, "type": 1, "options": path_options}
        if resolved:
            data["resolved"] = resolved
        if guild is not None:
            data["guild_id"] = str(guild)
        interaction = Interaction(self.snowflake(), f"token-{self.snowflake()}", _kind, user, channel_id, data)
        if _kind == 4:  # autocomplete: the caller marks the focused option before dispatching
            self.interactions[interaction.id] = interaction
            return interaction
        return await self._interact(interaction)

    async def autocomplete(self, user: User, command: str, focused: str, **options: Any) -> list[dict[str, Any]]:
        """Type into option ``focused`` of ``/command`` (the other options as given); return the bot's choices."""
        interaction = await self.slash(user, command, _kind=4, **options)
        for option in interaction.data["options"]:
            option["focused"] = option["name"] == focused
        await self._interact(interaction)
        response = await self.acknowledged(interaction)
        assert response["type"] == 8, response
        return response["data"]["choices"]

    async def click(self, user: User, message: Message, custom_id: str) -> Interaction:
        """Press the button ``custom_id`` on ``message`` (as ``user``)."""
        if not any(b.get("custom_id") == custom_id for b in message.buttons()):
            raise KeyError(f"no button {custom_id!r} on message {message.id}")
        interaction = Interaction(self.snowflake(), f"token-{self.snowflake()}", 3, user, message.channel_id,
                                  {"custom_id": custom_id, "component_type": 2}, message=message)
        return await self._interact(interaction)

    async def submit_modal(self, user: User, opened: Interaction, values: dict[str, str]) -> Interaction:
        """Fill in the modal the bot answered ``opened`` with (values by the text inputs' labels) and submit it."""
        modal = next(r["data"] for r in opened.responses if int(r["type"]) == 9)
        rows = []
        for row in modal["components"]:
            field = row["components"][0] if row["type"] == 1 else row["component"]
            rows.append({"type": row["type"], "components": [
                {"type": field["type"], "custom_id": field["custom_id"], "value": values.get(field.get("label", ""), "")}
            ]})
        interaction = Interaction(self.snowflake(), f"token-{self.snowflake()}", 5, user, opened.channel_id,
                                  {"custom_id": modal["custom_id"], "components": rows})
        return await self._interact(interaction)

    async def say(self, user: User, channel_id: int, content: str) -> Message:
        """``user`` posts ``content`` in a channel or thread (MESSAGE_CREATE)."""
        message = self._new_message(channel_id, {"content": content, "allowed_mentions": None}, [], author=user)
        if "guild_id" in message.data:  # a direct message carries no member
            message.data["member"] = {k: v for k, v in user.member().items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", message.data)
        return message

    async def responded(self, interaction: Interaction, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """Wait until the interaction has ``count`` visible replies (non-loading); return them."""
        def ready() -> list[Message] | None:
            replies = [m for m in interaction.replies if not m.data["flags"] & LOADING]
            return replies if len(replies) >= count else None

        return await self.wait_until(ready, timeout)

    async def acknowledged(self, interaction: Interaction, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the interaction's callback; return its payload."""
        return (await self.wait_until(lambda: interaction.responses, timeout))[0]
