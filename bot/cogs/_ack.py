"""Acknowledge a press at once even when its answer takes a moment to work out.

A quiz press is answered with its feedback in the interaction's own response, which needs the stored answer
(the first one counts). That write is a few milliseconds, but when a class asks its lab questions in the same
second it can take a few hundred, and the press shows nothing meanwhile. If the work is not done within
``ACK_WITHIN`` of the press the interaction is deferred ("thinking…", visible to the learner at once) and the
feedback then fills that message in; a quick answer is still one response, with no loading state. The time is
counted from the press (the interaction's snowflake), not from when the handler starts: a press that already
waited its turn in a busy bot is deferred at once instead of waiting ``ACK_WITHIN`` more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import discord

ACK_WITHIN = 0.05  # seconds of work before the press is acknowledged with a loading state

T = TypeVar("T")


async def in_time(interaction: discord.Interaction, work: Awaitable[T]) -> T:
    """``work``'s result; the interaction is deferred (ephemeral, thinking) unless it is done ``ACK_WITHIN``
    after the press. A clock behind Discord's only makes the wait ``ACK_WITHIN`` again."""
    task = asyncio.ensure_future(work)
    waited = (datetime.now(UTC) - interaction.created_at).total_seconds()
    done, _ = await asyncio.wait({task}, timeout=min(ACK_WITHIN, max(0.0, ACK_WITHIN - waited)))
    if not done:  # gather: a failed deferral does not leave the work's outcome unretrieved
        await asyncio.gather(interaction.response.defer(ephemeral=True, thinking=True), task)
    return task.result()


async def reply(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral reply: the response, or the message a deferral left loading."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
