"""Answers that cite the lesson: the document's blocks, the sources line, and a cited answer through the assistant."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.core.citations import (
    INTRODUCTION,
    KEY_TERMS,
    SectionGone,
    cited_sources,
    lesson_document,
    lesson_parts,
    paragraphs,
    section_text,
    sources_line,
)
from bot.core.content.model import KeyTerm, Lesson, Section
from bot.core.store.base import LessonSource
from tests.emulators.anthropic import Cited, Reply
from tests.unit.test_labs import FOOTER, LabRig
from tests.unit.test_labs import lab as lab  # noqa: F401  (the fixture)

LESSON = Lesson(
    number=2,
    title="Enabling streaming",
    summary="One changed call.",
    opening_question="What do you get back?",
    sections=(
        Section(heading="", markdown="Two doors into streaming."),
        Section(heading="Iterating the stream", markdown=(
            "Loop over text_stream.\n\n```python\nfor text in stream.text_stream:\n\n    print(text)\n```\n\n"
            "Flush the output."
        )),
        Section(heading="Stopping early", markdown="Leave the with block."),
    ),
    key_terms=(KeyTerm("MessageStream", "What the with block gives you."),),
)


def citation(start: int, end: int | None = None, *, document: int = 0) -> SimpleNamespace:
    return SimpleNamespace(type="content_block_location", document_index=document, start_block_index=start,
                           end_block_index=end if end is not None else start + 1)


def test_paragraphs_split_at_blank_lines_but_keep_a_code_block_whole() -> None:
    assert paragraphs("One\nline two\n\n\n~~~\na\n\nb\n~~~\n\nThree") == ["One\nline two", "~~~\na\n\nb\n~~~", "Three"]


def test_the_document_has_one_block_per_paragraph_each_in_its_section() -> None:
    parts = lesson_parts(LESSON)

    assert [(p.section, p.text) for p in parts] == [
        (INTRODUCTION, "# Enabling streaming"),
        (INTRODUCTION, "One changed call."),
        (INTRODUCTION, "**What do you get back?**"),
        (INTRODUCTION, "Two doors into streaming."),
        ("Iterating the stream", "## Iterating the stream\n\nLoop over text_stream."),
        ("Iterating the stream", "```python\nfor text in stream.text_stream:\n\n    print(text)\n```"),
        ("Iterating the stream", "Flush the output."),
        ("Stopping early", "## Stopping early\n\nLeave the with block."),
        (KEY_TERMS, "**MessageStream**: What the with block gives you."),
    ]
    document = lesson_document(LESSON)
    assert document["title"] == "Lesson 2: Enabling streaming"
    assert document["citations"] == {"enabled": True} and document["cache_control"] == {"type": "ephemeral"}
    assert document["source"] == {"type": "content", "content": [{"type": "text", "text": p.text} for p in parts]}


def test_cited_sources_are_sections_in_first_cited_order_each_once() -> None:
    citations = [citation(6), citation(7), citation(4, 6), citation(3), SimpleNamespace(type="char_location"),
                 citation(1, document=1), citation(40)]

    assert cited_sources(LESSON, citations) == (
        LessonSource(2, "Iterating the stream"), LessonSource(2, "Stopping early"), LessonSource(2, INTRODUCTION),
    )
    assert cited_sources(LESSON, []) == ()


def test_the_sources_line_names_the_lesson_once_and_nothing_for_no_sources() -> None:
    sources = [LessonSource(2, "Iterating the stream"), LessonSource(2, "Stopping early")]
    assert sources_line(sources) == "📖 Lesson 2 · Iterating the stream · Stopping early"
    assert sources_line(sources[:1]) == "📖 Lesson 2 · Iterating the stream"
    assert sources_line([]) == ""


def test_a_source_opens_its_section_as_the_lesson_has_it_now() -> None:
    shown = section_text(LESSON, LessonSource(2, "Stopping early"))
    assert (shown.title, shown.markdown) == ("📖 Lesson 2 · Stopping early", "Leave the with block.")
    intro = section_text(LESSON, LessonSource(2, INTRODUCTION)).markdown
    assert intro == "One changed call.\n\n**What do you get back?**\n\nTwo doors into streaming."
    assert "**MessageStream**" in section_text(LESSON, LessonSource(2, KEY_TERMS)).markdown
    with pytest.raises(SectionGone, match="no longer has a section called \"Gone\""):
        section_text(LESSON, LessonSource(2, "Gone"))


# -- through the assistant, the fake API streaming citations as the real API does ---------------------------

CITED = ("Streaming helps. ", Cited("The body says so", 3), ", and the ", Cited("key term too", 4), ".")
CITED_TEXT = "Streaming helps. The body says so, and the key term too."


async def test_a_cited_answer_streams_progressively_and_lists_its_sources(lab: LabRig) -> None:
    lab.fake.reply = Reply(parts=CITED, chunk_chars=4)
    ticket = await lab.assistant.admit(lab.thread, "What is TTFT?", event_id="cited")
    assert ticket is not None
    message, sink = lab.message()
    outcome = await lab.assistant.answer(ticket, message)

    text, sources, footer = sink.final.split("\n\n")[0], *sink.final.split("\n\n")[1].split("\n")
    assert text == CITED_TEXT
    assert sources == "📖 Lesson 1 · Body · Key terms"
    assert FOOTER.fullmatch(footer)
    shown = [shown.removesuffix(" ▌") for _, shown in sink.calls[:-1]]
    assert shown and all(CITED_TEXT.startswith(version) for version in shown)  # never jumps, never repeats
    assert [len(v) for v in shown] == sorted(len(v) for v in shown)
    expected = (LessonSource(1, "Body"), LessonSource(1, KEY_TERMS))
    assert outcome.turn.sources == expected and (await lab.turns())[0].sources == expected
    assert ticket.ending is not None and ticket.ending.sources == expected and ticket.ending.rateable
    finished = await lab.course.store.finished_answer(ticket.id)
    assert finished is not None and finished.turn.sources == expected and finished.thread.id == lab.thread.id


async def test_an_answer_without_citations_says_nothing_extra(lab: LabRig) -> None:
    outcome, sink = await lab.ask()

    assert "📖" not in sink.final and outcome.turn.sources == ()
    assert len(sink.final.split("\n\n")) == 2  # the text and the metrics footer


async def test_the_cached_prefix_is_persona_and_lesson_and_is_read_on_the_next_turn(lab: LabRig) -> None:
    first, _ = await lab.ask("One?", event_id="e1")
    second, _ = await lab.ask("Two?", event_id="e2")

    assert first.turn.cache_write_tokens > 0 and first.turn.cache_read_tokens == 0
    assert second.turn.cache_read_tokens == first.turn.cache_write_tokens and second.turn.cache_write_tokens == 0
