"""Autocomplete for the number options of slash commands (lessons, quizzes, labs of the module being typed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import discord
from discord import app_commands

from bot.cogs._context import runtime_of
from bot.cogs._render import clip
from bot.core.content.model import Module
from bot.core.course import CourseError

CHOICES_MAX = 25
CHOICE_NAME_MAX = 100


def module_for_choices(interaction: discord.Interaction) -> Module | None:
    """The module named in the command being typed (the default one when none is), or None if it is unknown."""
    try:
        return runtime_of(interaction).course.module(getattr(interaction.namespace, "module", None))
    except CourseError:
        return None


def numbered_choices(current: str, titles: Mapping[int, str]) -> list[app_commands.Choice[int]]:
    """Autocomplete choices ``"2 · Title"`` whose number or title matches what the user typed."""
    typed = current.strip().lower()
    return [
        app_commands.Choice(name=clip(f"{number} · {title}", CHOICE_NAME_MAX), value=number)
        for number, title in sorted(titles.items())
        if not typed or typed in str(number) or typed in title.lower()
    ][:CHOICES_MAX]


Autocomplete = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[int]]]]


def number_autocomplete(titles: Callable[[Module], Mapping[int, str]]) -> Autocomplete:
    """An autocomplete callback for a ``number`` option, offering ``titles(module)`` of the module being typed."""
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        module = module_for_choices(interaction)
        return numbered_choices(current, titles(module)) if module else []

    return complete
