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
    quiz_feedback,
)
from bot.cogs.quizzes import quiz_header, quiz_messages
from bot.core.content.model import KeyTerm, Lesson, Module, Option, Question, Quiz, Section
from bot.core.course import QuizOutcome


def make_module(lesson: Lesson) -> Module:
    return Module(number=5, title="Streaming", summary="", lessons={lesson.number: lesson}, quizzes={}, labs={},
                  test=None)


def test_narrow_table_becomes_an_aligned_code_block() -> None:
    table = ["| Event | When |", "|---|---|", "| `message_start` | first |", "| ping | **any** time |"]
    assert discord_markdown("\n".join(table)) == (
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
    assert discord_markdown("\n".join(table)) == (
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


def test_wide_table_keeps_inline_code_and_names_numbered_rows() -> None:
    table = ["| Order | Event | Key fields |", "|---|---|---|",
             "| 1 | `message_start` | `message.id` and `message.usage.input_tokens`, sent once |",
             "| 2 | `ping` | none |"]
    assert discord_markdown("\n".join(table)) == (
        "**1. `message_start`**\n• Key fields: `message.id` and `message.usage.input_tokens`, sent once\n\n"
        "**2. `ping`**\n• Key fields: none"
    )


def test_text_before_the_first_heading_joins_the_header() -> None:
    lesson = Lesson(number=2, title="Two", summary="Summary.", opening_question="Why?",
                    sections=(Section("", "Intro line\nwrapped."), Section("First", "Body.")), key_terms=())
    header, first = lesson_embeds(make_module(lesson), lesson)
    assert header.title == "Lesson 2: Two"
    assert header.description == "Summary.\n\n**Why?**\n\nIntro line wrapped."
    assert (first.title, first.description) == ("First", "Body.")


def test_a_long_untitled_section_gets_embeds_without_titles() -> None:
    lesson = Lesson(number=1, title="One", summary="", opening_question="",
                    sections=(Section("", "word " * 1000),), key_terms=())
    header, *rest = lesson_embeds(make_module(lesson), lesson)
    assert header.description is None and len(rest) == 2
    assert all(embed.title is None and embed.description for embed in rest)


def quiz_outcome(option: int, *, already: bool = False, explanation: str = "") -> QuizOutcome:
    options = (Option(0, "Server-Sent Events", True, "Correct. The response stays open."),
               Option(1, "WebSockets", False, "Not quite. WebSockets are two-way."))
    question = Question("sse", "Which protocol?", options, explanation)
    return QuizOutcome(question, options[option], option == 0, already)


def test_quiz_feedback_says_the_verdict_once_and_adds_the_explanation() -> None:
    assert quiz_feedback(quiz_outcome(0), 2) == (
        "✅ Correct! Question 2: **A. Server-Sent Events**\nThe response stays open.")
    assert quiz_feedback(quiz_outcome(1, explanation="SSE is one-way."), 1) == (
        "❌ Not quite. Question 1: you chose **B. WebSockets**.\nWebSockets are two-way.\n💡 SSE is one-way.")
    assert quiz_feedback(quiz_outcome(1, already=True), 3) == (
        "You already answered question 3: **B. WebSockets** (❌ not quite). Only your first answer counts.\n"
        "WebSockets are two-way.")


def test_a_long_quiz_splits_into_messages_that_each_carry_the_count() -> None:
    options = quiz_outcome(0).question.options
    quiz = Quiz(lesson=1, title="Big", questions=tuple(Question(f"q{i}", f"Q{i}?", options) for i in range(7)))
    messages = quiz_messages(5, quiz)
    assert [[embed.title for embed in embeds] for embeds, _ in messages] == [
        [f"Question {n}" for n in range(1, 6)], ["Question 6", "Question 7"]]
    for embeds, view in messages:
        rows = [item.row for item in view.children]
        assert sorted(set(rows)) == list(range(len(embeds))) and all(rows.count(r) == len(options) for r in rows)
    assert quiz_header(quiz, 2, 1).startswith("📝 **Quiz: Big** (lesson 1, part 2 of 2)\n👥 2 learners answered.")
    short = Quiz(lesson=1, title="Small", questions=quiz.questions[:3])
    assert quiz_header(short, 0).startswith("📝 **Quiz: Small** (lesson 1)\n👥 No answers yet")
