"""The Slack app: slack-bolt ``AsyncApp`` in Socket Mode (``SLACK_APP_TOKEN``) or HTTP mode (``--port``).

HTTP mode serves ``POST /slack/events`` with bolt's aiohttp server; bolt verifies every request's signature
(``SLACK_SIGNING_SECRET``) and answers 401 to a bad one. ``SLACK_API_URL`` points the Web API client
elsewhere (an emulator, a proxy). The client retries 429s after ``Retry-After`` and dropped connections;
the bot paces itself (:mod:`bot.slack.pacing`) so that should stay rare.

Every listener acks first and does the slow work after the ack (bolt runs listeners concurrently with the
ack; lab answers run as background tasks that ``run_slack`` stops on the way out).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.core.tasks import spawn
from bot.health import Connections
from bot.runtime import Runtime
from bot.slack import instructor, labs, lessons, module_test, progress, quizzes, respond, review
from bot.slack.context import SlackContext
from bot.slack.pacing import SlackPacing

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
CONNECTION_CHECK_SECONDS = 5.0


def make_client(settings: Settings) -> AsyncWebClient:
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3), AsyncConnectionErrorRetryHandler()],
    )


def build_app(ctx: SlackContext) -> AsyncApp:
    """The bolt app with every feature's listeners registered."""
    settings = ctx.settings
    socket_mode = settings.slack_app_token is not None
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        client=ctx.client,
        signing_secret=secret,
        request_verification_enabled=not socket_mode,  # Socket Mode envelopes are not signed
        logger=logging.getLogger("slack_bolt.coursebot"),
    )
    respond.install(app, ctx.responses)
    for feature in (lessons, quizzes, module_test, labs, progress, instructor, review):
        feature.register(app, ctx)
    return app


async def run_slack(
    runtime: Runtime, connections: Connections | None = None, *, port: int, host: str = "0.0.0.0"
) -> None:
    """Run the Slack app until cancelled, then disconnect and stop the answers still streaming.

    In Socket Mode the socket's state goes to ``connections`` (for ``coursebot health``); HTTP mode has no
    connection of its own to watch.
    """
    settings = runtime.settings
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    ctx = SlackContext(runtime, make_client(settings), pacing=SlackPacing(runtime.budget("slack", token)),
                       native_streaming=settings.slack_native_streaming)
    app = build_app(ctx)
    reminders = spawn(review.remind_forever(ctx), name="slack-review-reminders")
    try:
        if settings.slack_app_token is not None:
            await _socket_mode(app, ctx, settings.slack_app_token.get_secret_value(), connections)
        else:
            await _http_mode(app, host, port)
    finally:
        reminders.cancel()
        await ctx.close()


async def _socket_mode(app: AsyncApp, ctx: SlackContext, app_token: str, connections: Connections | None) -> None:
    handler = AsyncSocketModeHandler(app, app_token, web_client=ctx.client)
    if connections is not None:
        connections.expect("slack")
    try:
        await handler.connect_async()
        log.info("slack: connected in Socket Mode")
        while True:  # the client reconnects by itself; this only reports its state
            if connections is not None:
                connections.set("slack", await handler.client.is_connected())
            await asyncio.sleep(CONNECTION_CHECK_SECONDS)
    finally:
        await handler.close_async()


async def _http_mode(app: AsyncApp, host: str, port: int) -> None:
    runner = web.AppRunner(app.server(port=port, path=EVENTS_PATH).web_app, handle_signals=False)
    await runner.setup()
    try:
        # SO_REUSEPORT: several coursebot processes may listen on one port, the kernel spreads the requests
        await web.TCPSite(runner, host, port, reuse_port=True).start()
        log.info("slack: HTTP mode, listening on %s:%d at %s", host, port, EVENTS_PATH)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
