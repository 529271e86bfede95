"""Run the configured chat platforms in one process, sharing one Runtime, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.config import Settings
from bot.core.content.loader import ContentError
from bot.core.store.base import StoreError
from bot.logs import setup_logging
from bot.runtime import Runtime

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0


def _heartbeat_path(settings: Settings) -> Path:
    return settings.db.with_name(settings.db.name + ".heartbeat")


def heartbeat_age(settings: Settings) -> float | None:
    """Seconds since the running bot last wrote its heartbeat, or None when it never did."""
    try:
        return time.time() - _heartbeat_path(settings).stat().st_mtime
    except FileNotFoundError:
        return None


async def _beat(path: Path) -> None:
    while True:
        path.touch()
        await asyncio.sleep(HEARTBEAT_SECONDS)


def _platform_runners(
    settings: Settings, platforms: Sequence[str] | None, slack_port: int, slack_host: str
) -> dict[str, Callable[[Runtime], Awaitable[None]]]:
    wanted = set(platforms) if platforms else {
        name for name, on in (("discord", settings.discord_enabled), ("slack", settings.slack_enabled)) if on
    }
    runners: dict[str, Callable[[Runtime], Awaitable[None]]] = {}
    if "discord" in wanted:
        from bot.discord_app import run_discord

        runners["discord"] = run_discord
    if "slack" in wanted:
        from bot.slack.app import run_slack

        runners["slack"] = lambda runtime: run_slack(runtime, port=slack_port, host=slack_host)
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

    Runs until cancelled or until one platform stops; then stops the others and closes the runtime.
    """
    setup_logging(settings.log_level)
    if platforms and (missing := _missing_tokens(settings, platforms)):
        log.error("cannot start %s: set %s", "/".join(platforms), ", ".join(missing))
        return 2
    runners = _platform_runners(settings, platforms, slack_port, slack_host)
    if not runners:
        log.error("no chat platform configured: set DISCORD_TOKEN and/or SLACK_BOT_TOKEN")
        return 2
    try:
        runtime = await Runtime.start(settings)
    except ContentError as exc:
        log.error("the course content has errors:\n%s", exc)
        return 1
    except (StoreError, OSError) as exc:
        log.error("cannot open the database %s: %s", settings.db, exc)
        return 1
    if runtime.labs is None:
        log.warning("ANTHROPIC_API_KEY is not set: lab assistants will say they are unavailable")
    tasks = [asyncio.create_task(run(runtime), name=f"platform:{name}") for name, run in runners.items()]
    tasks.append(asyncio.create_task(_beat(_heartbeat_path(settings)), name="heartbeat"))
    log.info("coursebot running: %s", ", ".join(runners))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        for task in failed:
            log.error("%s stopped", task.get_name(), exc_info=task.exception())
        return 1 if failed else 0
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runtime.close()
