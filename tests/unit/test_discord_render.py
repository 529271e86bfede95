"""Course content rendered for Discord: tables, wrapped paragraphs, and Discord's size limits."""

from __future__ import annotations

import discord

from bot.cogs._render import (
    CHARS_PER_MESSAGE,
    DESCRIPTION_MAX,
    EMBEDS_PER_MESSAGE,
    bar,
    discord_markdown,
    lesson_embeds,
    pack,
    render_table,
)
from bot.core.content.model import KeyTerm, Lesson, Module, Section


def make_module(lesson: Lesson) -> Module:
    return Module(number=5, title="Streaming", summary="", lessons={lesson.number: lesson}, quizzes={}, labs={},
                  test=None)


def test_narrow_table_becomes_an_aligned_code_block() -> None:
    table = ["| Event | When |", "|---|---|", "| `message_start` | first |", "| ping | **any** time |"]
    assert render_table(table) == (
        "```\n"
        "Event         | When\n"
        "--------------+---------\n"
        "message_start | first\n"
        "ping          | any time\n"
        "```"
    )


def test_wide_table_becomes_a_list_of_rows() -> None:
    table = ["| Use | Stream? | Why |", "|---|---|---|",
             "| Chat assistant or support bot | Yes | A person reads as the text arrives, which is the point |"]
    assert render_table(table) == (
        "**Chat assistant or support bot**\n• Stream?: Yes\n"
        "• Why: A person reads as the text arrives, which is the point"
    )


def test_paragraphs_are_joined_but_code_lists_and_headings_are_kept() -> None:
    markdown = ("First line\nsecond line.\n\n- item one\n- item two\n  continued\n\n### Deep heading\n"
                "```python\nx = 1\ny = 2\n```\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert discord_markdown(markdown) == (
        "First line second line.\n\n- item one\n- item two continued\n\n**Deep heading**\n"
        "```python\nx = 1\ny = 2\n```\n```\na | b\n--+--\n1 | 2\n```"
    )


def test_long_lesson_is_split_within_discords_limits() -> None:
    body = "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(40))
    lesson = Lesson(number=1, title="A long lesson", summary="Summary.", opening_question="Why?",
                    sections=(Section("Long section", body),
                              Section("Code", "```python\n" + "print(1)\n" * 900 + "```")),
                    key_terms=tuple(KeyTerm(f"term {i}", "definition " * 90) for i in range(30)))
    embeds = lesson_embeds(make_module(lesson), lesson)
    assert all(len(e.description or "") <= DESCRIPTION_MAX for e in embeds)
    assert all(len(e.fields) <= 25 and len(e) <= CHARS_PER_MESSAGE for e in embeds)
    messages = pack(embeds)
    assert sum(len(m) for m in messages) == len(embeds)
    assert all(len(m) <= EMBEDS_PER_MESSAGE and sum(len(e) for e in m) <= CHARS_PER_MESSAGE for m in messages)
    code = [e.description for e in embeds if e.title and e.title.startswith("Code")]
    assert len(code) > 1 and all(d.startswith("```python") and d.endswith("```") for d in code if d)
    assert embeds[-1].footer.text == "Module 5 · Lesson 1 of 1"


def test_pack_never_returns_an_empty_message() -> None:
    assert pack([]) == []
    embeds = [discord.Embed(description="x" * 4000) for _ in range(3)]
    assert [len(m) for m in pack(embeds)] == [1, 1, 1]


def test_bar() -> None:
    assert bar(0, 3, 6) == "▱▱▱▱▱▱"
    assert bar(2, 3, 6) == "▰▰▰▰▱▱"
    assert bar(5, 0) == "▱" * 10
