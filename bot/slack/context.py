"""What every Slack listener shares: the runtime, the Web API client, the rate limits, running answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.core.course import CourseError, CourseService
from bot.core.store.base import LearnerRef
from bot.core.tasks import spawn
from bot.runtime import Runtime
from bot.slack.mrkdwn import escape, plain
from bot.slack.pacing import SlackPacing
from bot.slack.respond import SharedSession

log = logging.getLogger(__name__)

FALLBACK_ERROR = "Sorry, something went wrong on my side. Please try again in a moment."
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})
NOT_IN_CHANNEL = "I can't post in this channel yet: invite me first (`/invite @coursebot`), then try again."


class UsageError(CourseError):
    """A command was typed with arguments it does not take."""


@dataclass
class SlackContext:
    runtime: Runtime
    client: AsyncWebClient
    pacing: SlackPacing = field(default_factory=SlackPacing)
    lab_openings: dict[str, set[asyncio.Event]] = field(default_factory=dict)  # channel -> labs being recorded
    native_streaming: bool = True  # SLACK_NATIVE_STREAMING, until Slack says the workspace lacks it
    responses: SharedSession = field(default_factory=SharedSession)  # the session ``respond`` posts on
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    @property
    def course(self) -> CourseService:
        return self.runtime.course

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @staticmethod
    def learner(team_id: str, user_id: str, name: str = "") -> LearnerRef:
        return LearnerRef("slack", team_id, user_id, name)

    @classmethod
    def command_learner(cls, context: Any, command: dict[str, Any]) -> LearnerRef:
        """Who typed a slash command."""
        return cls.learner(context.team_id, command["user_id"], command.get("user_name", ""))

    @classmethod
    def action_learner(cls, context: Any, body: dict[str, Any]) -> LearnerRef:
        """Who pressed a button."""
        user = body["user"]
        return cls.learner(context.team_id, user["id"], user.get("username") or user.get("name", ""))

    async def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]] | None = None,
                   thread_ts: str | None = None) -> str:
        """Post a message (paced per channel) and return its ts."""
        await self.pacing.post(channel)
        response = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
        )
        return str(response["ts"])

    async def ephemeral(self, team_id: str, channel: str, user: str, *, text: str,
                        blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None) -> None:
        """Show ``user`` a message only they can see (paced per workspace)."""
        await self.pacing.call("chat.postEphemeral", team_id)
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread_ts)

    def background(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run slow work after the ack; cancelled when the app stops."""
        task = spawn(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel what is still running (``Runtime.drain`` has already let lab answers end)."""
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.responses.close()


def _numbers(text: str, usage: str, *, most: int, least: int) -> list[int]:
    """The whole-number arguments of a command; ``UsageError`` naming what is wrong and the usage otherwise."""
    words = (text or "").split()
    for word in words:
        if not (word.isascii() and word.isdigit() and len(word) <= 6):
            raise UsageError(f"“{plain(word, 40)}” is not a number. Usage: {usage}")
    if len(words) < least:
        raise UsageError(f"Please give a number. Usage: {usage}")
    if len(words) > most:
        raise UsageError(f"That is more numbers than the command takes. Usage: {usage}")
    return [int(word) for word in words]


def number_and_module(text: str, usage: str) -> tuple[int, int | None]:
    """``N [module]`` (``/lesson 2``, ``/lab 1 5``): the number and the module, if given."""
    numbers = _numbers(text, usage, most=2, least=1)
    return numbers[0], numbers[1] if len(numbers) > 1 else None


def optional_module(text: str, usage: str) -> int | None:
    """``[module]`` (``/progress``, ``/test 5``): the module, if given."""
    numbers = _numbers(text, usage, most=1, least=0)
    return numbers[0] if numbers else None


Handler = Callable[..., Awaitable[None]]


def friendly_errors(handler: Handler) -> Handler:
    """Turn a ``CourseError`` into an ephemeral reply with its message, a channel the bot is not in into an
    invitation hint, and anything else into an apology (logged).

    The wrapped handler must take ``respond``; it is expected to have acked already.
    """

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> None:
        respond: AsyncRespond = kwargs["respond"]
        try:
            await handler(*args, **kwargs)
        except CourseError as exc:
            await respond(text=escape(str(exc)), response_type="ephemeral", replace_original=False)
        except SlackApiError as exc:
            if exc.response.get("error") in NOT_A_MEMBER:
                await respond(text=NOT_IN_CHANNEL, response_type="ephemeral", replace_original=False)
            else:
                log.exception("slack handler %s failed", handler.__name__)
                await respond(text=FALLBACK_ERROR, response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("slack handler %s failed", handler.__name__)
            await respond(text=FALLBACK_ERROR, response_type="ephemeral", replace_original=False)

    return wrapper
