"""The Discord bot: ``CourseBot`` (a ``commands.AutoShardedBot``) and ``run_discord``, which ``bot.serve`` runs.

A process runs the shards ``COURSEBOT_SHARD_IDS`` of ``COURSEBOT_SHARD_COUNT`` (one shard when unset); the global
rate budget belongs to the bot token, so with ``COURSEBOT_REDIS_URL`` every process's pacer draws from it in
Redis (``Runtime.budget``).

Slash commands live in cogs (``bot/cogs``); every message the bot sends uses
``AllowedMentions.none()``, so neither course content nor model output can ping anyone. One
:class:`~bot.core.streaming.pacing.Pacer` per connection paces every progressive edit and coalesced
message update under Discord's limits.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.cogs.errors import is_replayed
from bot.core.streaming.pacing import DISCORD_LIMITS, Pacer
from bot.health import Connections
from bot.runtime import Runtime

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.errors",
    "bot.cogs.lessons",
    "bot.cogs.quizzes",
    "bot.cogs.module_test",
    "bot.cogs.labs",
    "bot.cogs.progress",
    "bot.cogs.instructor",
    "bot.cogs.review",
)
DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")
# Discord's documented windows. Every REST request the bot makes while it runs is paced (interaction responses
# do not count against the global limit; discord.py sends start-up, login and command sync, unpaced), and each
# response is reported to the pacer (``responses_settle``), so the global window counts a request until one
# second after its response: however bunched requests reach Discord, no second there holds more than 50. The
# 0.1 s margin only covers a grant whose request never reports. Before the responses were reported, requests
# were counted from when they left, and 50 per 1.1 s drew global 429s at 500 labs (requests reached the
# emulator bunched), so the bot paced 48 per 1.1 s (bench/RESULTS.md); with several processes the budget they
# share in Redis still does (``shared_spare``), since it counts requests from when they leave.
PACING = dataclasses.replace(DISCORD_LIMITS, margin=0.1, shared_spare=2)
_UNCOUNTED = re.compile(r"/(interactions|webhooks)/")  # interaction responses and follow-ups: no global limit
RATE_LIMIT_WAIT_MAX = 30.0  # longer waits surface as discord.RateLimited instead of sleeping inside a request


class CourseBot(commands.AutoShardedBot):
    """The course in a Discord server. ``runtime`` holds the settings, the course and the lab assistant."""

    guild_ready_seconds = 2.0  # how long discord.py waits for GUILD_CREATEs after READY (tests lower it)
    count_edit_seconds = 3.0  # the least time between two updates of a quiz message's respondent count

    def __init__(
        self, runtime: Runtime, *, message_content: bool = True, connections: Connections | None = None
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        token = runtime.settings.discord_token
        self.pacer = Pacer(PACING, shared=runtime.budget("discord", token.get_secret_value()) if token else None)
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=RATE_LIMIT_WAIT_MAX,
            guild_ready_timeout=self.guild_ready_seconds,
            shard_count=runtime.settings.shard_count or 1,
            shard_ids=runtime.settings.shard_ids or None,
            http_trace=responses_settle(self.pacer),
        )
        self.runtime = runtime
        self.connections = connections

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("could not load %s; the bot runs without it", extension)
        await self._sync_commands()

    async def _sync_commands(self) -> None:
        guild_id = self.runtime.settings.discord_guild_id
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d slash commands globally (new commands can take a while to appear)", len(synced))
            return
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d slash commands to guild %s", len(synced), guild_id)

    async def close(self) -> None:
        """Unload the cogs first (streaming answers end as stopped, pending edits are dropped), then disconnect."""
        for name in reversed(list(self.extensions)):
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("could not unload %s cleanly", name)
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s in %d server(s)", self.user, len(self.guilds))

    def _connected(self, up: bool) -> None:
        if self.connections is not None:
            self.connections.set("discord", up)

    async def on_connect(self) -> None:
        self._connected(True)

    async def on_resumed(self) -> None:
        self._connected(True)

    async def on_disconnect(self) -> None:
        self._connected(False)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An interaction that was already answered (a replay, or one that expired) is routine: a debug line."""
        error = sys.exc_info()[1]
        if error is not None and is_replayed(error):
            log.debug("%s: interaction already acknowledged or expired (%s)", event_method, error)
            return
        log.exception("unhandled error in %s", event_method)

    async def on_message(self, message: discord.Message) -> None:
        """Lab threads handle their messages in the labs cog; there are no prefix commands."""


def responses_settle(pacer: Pacer) -> aiohttp.TraceConfig:
    """discord.py's HTTP trace: tell ``pacer`` when each REST request counted against the global limit has its
    response (``Pacer.responded``)."""

    async def settle(_session: aiohttp.ClientSession, _context: object, params: Any) -> None:
        if not _UNCOUNTED.search(params.url.path):
            pacer.responded()

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(settle)
    trace.on_request_exception.append(settle)
    return trace


def _point_at(settings_api_base: str, gateway_url: str | None) -> None:
    """Use DISCORD_API_BASE and DISCORD_GATEWAY_URL (an emulator, a proxy) instead of discord.com."""
    discord.http.Route.BASE = settings_api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url) if gateway_url else DEFAULT_GATEWAY


async def run_discord(runtime: Runtime, connections: Connections | None = None) -> None:
    """Log in and serve until cancelled; the connection is closed cleanly either way.

    When the Message Content intent is not enabled for the bot, it serves without it: learners then ask in
    their lab threads with ``/ask`` (or by mentioning the bot).
    """
    settings = runtime.settings
    if settings.discord_token is None:
        raise RuntimeError("DISCORD_TOKEN is not set")
    _point_at(settings.discord_api_base, settings.discord_gateway_url)
    token = settings.discord_token.get_secret_value()
    if connections is not None:
        connections.expect("discord")
    try:
        await _serve(runtime, token, connections, message_content=True)
    except discord.PrivilegedIntentsRequired:
        log.warning("the Message Content intent is not enabled for this bot (Developer Portal > Bot > Privileged "
                    "Gateway Intents); running without it: learners ask with /ask in their lab threads")
        await _serve(runtime, token, connections, message_content=False)


async def _serve(runtime: Runtime, token: str, connections: Connections | None, *, message_content: bool) -> None:
    bot = CourseBot(runtime, message_content=message_content, connections=connections)
    try:
        await bot.start(token)
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: copy the bot token again from the Developer Portal")
        raise
    finally:
        await bot.close()
