"""Acknowledge a press at once even when its answer takes a moment to work out.

A quiz press is answered with its feedback in the interaction's own response, which needs the stored answer
(the first one counts). That write is a few milliseconds, but when a class asks its lab questions in the same
second it can take a few hundred, and the press shows nothing meanwhile. If the work is not done within
``ACK_WITHIN`` the interaction is deferred ("thinking…", visible to the learner at once) and the feedback
then fills that message in; a quick answer is still one response, with no loading state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import discord

ACK_WITHIN = 0.05  # seconds of work before the press is acknowledged with a loading state

T = TypeVar("T")


async def in_time(interaction: discord.Interaction, work: Awaitable[T]) -> T:
    """``work``'s result; the interaction is deferred (ephemeral, thinking) if it takes over ``ACK_WITHIN``."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=ACK_WITHIN)
    if not done:  # gather: a failed deferral does not leave the work's outcome unretrieved
        await asyncio.gather(interaction.response.defer(ephemeral=True, thinking=True), task)
    return task.result()


async def reply(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral reply: the response, or the message a deferral left loading."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
