"""Run the configured chat platforms in one process, sharing one Runtime, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from bot.config import Settings
from bot.core.content.loader import ContentError
from bot.core.store import redacted
from bot.core.store.base import StoreError
from bot.health import Connections
from bot.logs import secret_values, setup_logging
from bot.runtime import Runtime

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Runner = Callable[[Runtime, Connections], Awaitable[None]]


async def _beat(connections: Connections) -> None:
    while True:
        connections.write()
        await asyncio.sleep(HEARTBEAT_SECONDS)


def _wanted(settings: Settings, platforms: Sequence[str] | None) -> list[str]:
    if platforms:
        return list(platforms)
    return [name for name, on in (("discord", settings.discord_enabled), ("slack", settings.slack_enabled)) if on]


def _platform_runners(platforms: Sequence[str], slack_port: int, slack_host: str) -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    if "discord" in platforms:
        from bot.discord_app import run_discord

        runners["discord"] = run_discord
    if "slack" in platforms:
        from bot.slack.app import run_slack

        runners["slack"] = lambda runtime, connections: run_slack(
            runtime, connections, port=slack_port, host=slack_host
        )
    return runners


def _missing_tokens(settings: Settings, platforms: Sequence[str]) -> list[str]:
    missing = []
    if "discord" in platforms and not settings.discord_enabled:
        missing.append("DISCORD_TOKEN")
    if "slack" in platforms and not settings.slack_enabled:
        missing.append("SLACK_BOT_TOKEN")
    if "slack" in platforms and settings.slack_enabled and not (
        settings.slack_app_token or settings.slack_signing_secret
    ):
        missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    return missing


async def serve(
    settings: Settings,
    platforms: Sequence[str] | None = None,
    *,
    slack_port: int = 3000,
    slack_host: str = "0.0.0.0",
) -> int:
    """Start the runtime and every requested (or configured) platform; return an exit code.

    Runs until SIGTERM/SIGINT (exit 0 after an orderly stop: :func:`_stop`), until cancelled, or until one
    platform stops; then stops the others and closes the runtime.
    """
    setup_logging(settings.log_level, secret_values(
        settings.discord_token, settings.slack_bot_token, settings.slack_app_token,
        settings.slack_signing_secret, settings.anthropic_api_key, settings.redis_url, urlsplit(settings.db).password,
    ))
    wanted = _wanted(settings, platforms)
    if missing := _missing_tokens(settings, wanted):
        log.error("cannot start %s: set %s", "/".join(wanted), ", ".join(missing))
        return 2
    runners = _platform_runners(wanted, slack_port, slack_host)
    if not runners:
        log.error("no chat platform configured: set DISCORD_TOKEN and/or SLACK_BOT_TOKEN")
        return 2
    connections = Connections(settings.heartbeat_file)
    try:
        runtime = await Runtime.start(settings, connections)
    except ContentError as exc:
        log.error("the course content has errors:\n%s", exc)
        return 1
    except (StoreError, OSError) as exc:
        log.error("cannot open the database %s: %s", redacted(settings.db), exc)
        return 1
    if runtime.labs is None:
        log.warning("ANTHROPIC_API_KEY is not set: lab assistants will say they are unavailable")
    # While the platforms connect: the key and the model are checked (a wrong one opens the breaker and is
    # logged), and the SDK's streaming path is warmed up.
    checks: list[asyncio.Task[bool]] = []
    if runtime.labs is not None:
        from bot.core.claude import warm_up  # the SDK is loaded only for labs

        checks = [asyncio.create_task(runtime.labs.check_configuration(), name="claude-check"),
                  asyncio.create_task(warm_up(), name="claude-warm-up")]
    tasks = [
        asyncio.create_task(run(runtime, connections), name=f"platform:{name}") for name, run in runners.items()
    ]
    tasks.append(asyncio.create_task(_beat(connections), name="heartbeat"))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, _on_signal, signum, stopping)
    stop = asyncio.create_task(stopping.wait(), name="stop-signal")
    log.info("coursebot running: %s", ", ".join(runners))
    drained = False
    try:
        done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        if stop in done:
            drained = True
            await _stop(runtime)
            return 0
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        for task in failed:
            log.error("%s stopped", task.get_name(), exc_info=task.exception())
        return 1 if failed else 0
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        stop.cancel()
        if not drained:  # cancelled, or a platform stopped: end the running answers now, with their notice
            await _stop(runtime, grace=0.0)
        for task in (*tasks, *checks):
            task.cancel()
        for task in (*tasks, *checks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runtime.close()
        log.info("coursebot stopped")


def _on_signal(signum: int, stopping: asyncio.Event) -> None:
    if stopping.is_set():
        log.info("%s again: already stopping", signal.Signals(signum).name)
        return
    log.info("%s: stopping", signal.Signals(signum).name)
    stopping.set()


async def _stop(runtime: Runtime, grace: float | None = None) -> None:
    """The orderly stop, while the platforms are still connected: admit no more lab questions, let the
    running answers finish within ``grace`` (default ``COURSEBOT_SHUTDOWN_GRACE``) and end the rest with a
    notice (``Runtime.drain``). The caller then disconnects the platforms and closes the runtime."""
    grace = runtime.settings.shutdown_grace if grace is None else grace
    if grace:
        log.info("finishing running lab answers (up to %g s), then disconnecting", grace)
    try:
        await runtime.drain(grace)
    except Exception:
        log.exception("could not finish the running answers cleanly")
