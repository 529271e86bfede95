"""The Discord adapter reports its REST responses to the pacer (``responses_settle``), through a real aiohttp
session against a real local server, as discord.py sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.core.streaming.pacing import Pacer, Priority
from bot.discord_app import PACING, responses_settle


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def _granted_then(pacer: Pacer, session: aiohttp.ClientSession, url: str) -> None:
    await pacer.acquire_global(priority=Priority.FIRST)
    try:
        async with session.post(url) as response:
            await response.read()
    except aiohttp.ClientError:
        pass


async def test_every_counted_request_settles_its_grant_and_interaction_responses_do_not(server: str) -> None:
    pacer = Pacer(PACING)
    async with aiohttp.ClientSession(trace_configs=[responses_settle(pacer)]) as session:
        await _granted_then(pacer, session, f"{server}/api/v10/channels/1/messages")
        assert not pacer._unsettled  # answered: counted from its response now

        await _granted_then(pacer, session, f"{server}/api/v10/interactions/1/token/callback")
        await _granted_then(pacer, session, f"{server}/api/v10/webhooks/1/token/messages/@original")
        assert len(pacer._unsettled) == 2  # no global limit there: nothing the pacer granted was answered

        await _granted_then(pacer, session, "http://127.0.0.1:1/api/v10/channels/1/messages")  # refused
        assert len(pacer._unsettled) == 2  # a failed request settles one too: it left, or never will
