"""``respond`` on one HTTP session the app keeps open.

bolt's ``respond`` builds an ``AsyncWebhookClient`` with no session on every call, so each reply to a
``response_url`` (a quiz click's feedback, for one) opens and closes an aiohttp session and a TCP
connection. Under a class's clicks that was the largest single share of the Slack side's CPU. A global
middleware hands each request a ``respond`` that posts on the shared session instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse


class SharedSession:
    """One aiohttp session, opened on first use (inside the running loop) and closed with the app."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class PooledRespond(AsyncRespond):
    """bolt's ``respond`` posting on a shared session (same arguments as ``AsyncWebhookClient.send``)."""

    def __init__(self, *, response_url: str, session: aiohttp.ClientSession, client: AsyncWebClient) -> None:
        super().__init__(response_url=response_url, proxy=client.proxy, ssl=client.ssl)
        self.session = session

    async def __call__(self, text: str = "", blocks: Any = None, **fields: Any) -> WebhookResponse:  # type: ignore[override]
        assert self.response_url is not None
        webhook = AsyncWebhookClient(self.response_url, session=self.session, proxy=self.proxy, ssl=self.ssl)
        return await webhook.send(text=text, blocks=blocks, **fields)


def install(app: AsyncApp, session: SharedSession) -> None:
    """Give every request that has a ``response_url`` a ``PooledRespond``."""

    @app.middleware
    async def pooled_respond(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
        if context.response_url:
            context["respond"] = PooledRespond(response_url=context.response_url, session=session.get(),
                                               client=context.client)
        return await next()
