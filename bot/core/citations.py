"""The lesson as a citable document, and the lesson sections an answer cites.

A lab's lesson goes to Claude as a custom content document (``source.type == "content"``) with citations
enabled: one text block per paragraph (a fenced code block stays whole), so a citation points at a paragraph
and ``cited_text`` is that paragraph, never the whole lesson. Each block remembers the section it belongs to;
the answer's sources are those sections, in the order first cited, shown as ``📖 Lesson 2 · Iterating the
stream`` under the answer with a way to open each one.

Citations arrive as ``citations_delta`` events inside text blocks (the SDK's stream turns them into
``citation`` events); their ``start_block_index`` / ``end_block_index`` (end exclusive) index the document's
blocks. The text itself never carries citation markers, so a streamed answer only ever grows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from anthropic.types import DocumentBlockParam, MessageParam

from bot.core.content.model import Lesson
from bot.core.course import CourseError
from bot.core.store.base import LessonSource

INTRODUCTION = "Introduction"  # the part of a lesson before its first heading
KEY_TERMS = "Key terms"
SOURCE_MARK = "📖"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class SectionGone(CourseError):
    """A source button names a section the lesson no longer has (the content changed since the answer)."""


@dataclass(frozen=True, slots=True)
class LessonPart:
    """One content block of the lesson document: a paragraph and the section it belongs to."""

    section: str
    text: str


@dataclass(frozen=True, slots=True)
class SectionText:
    """A section to show a learner who opened a source: its title and Markdown."""

    title: str
    markdown: str


def paragraphs(markdown: str) -> list[str]:
    """``markdown`` split at blank lines outside code fences (a fenced block with blank lines stays one piece)."""
    pieces: list[str] = []
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1).startswith(fence) and not line[match.end():].strip():
                fence = None
        elif match:
            fence = match.group(1)
        elif not line.strip():
            if lines:
                pieces.append("\n".join(lines))
                lines = []
            continue
        lines.append(line)
    if lines:
        pieces.append("\n".join(lines))
    return pieces


def lesson_parts(lesson: Lesson) -> list[LessonPart]:
    """The document's blocks in reading order: the introduction, each section's paragraphs (the first one under
    its ``## heading``), then one block per key term."""
    intro = [f"# {lesson.title}", lesson.summary, f"**{lesson.opening_question}**" if lesson.opening_question else ""]
    parts = [LessonPart(INTRODUCTION, text) for text in intro if text]
    for section in lesson.sections:
        name = section.heading or INTRODUCTION
        for index, text in enumerate(paragraphs(section.markdown)):
            heading = f"## {section.heading}\n\n" if index == 0 and section.heading else ""
            parts.append(LessonPart(name, heading + text))
    for term in lesson.key_terms:
        parts.append(LessonPart(KEY_TERMS, f"**{term.term}**: {term.definition}"))
    return parts


def lesson_document(lesson: Lesson) -> DocumentBlockParam:
    """The lesson as a cached document with citations enabled (the long stable prefix of every request)."""
    return {
        "type": "document",
        "title": f"Lesson {lesson.number}: {lesson.title}",
        "source": {"type": "content", "content": [{"type": "text", "text": part.text} for part in lesson_parts(lesson)]},
        "citations": {"enabled": True},
        "cache_control": {"type": "ephemeral"},
    }


def with_document(document: DocumentBlockParam, messages: list[MessageParam]) -> list[MessageParam]:
    """``messages`` with the document placed before the text of the first (user) message: documents go in a
    user turn, and keeping it first keeps the cached prefix (system, then the document) the same every turn."""
    first, *rest = messages
    content = first["content"]
    blocks: list[Any] = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return [{"role": "user", "content": [document, *blocks]}, *rest]


def cited_sources(lesson: Lesson, citations: Iterable[Any]) -> tuple[LessonSource, ...]:
    """The lesson sections ``citations`` point at, each once, in the order first cited.

    Only block locations in the lesson document (index 0) count; an index outside the document is ignored.
    """
    parts = lesson_parts(lesson)
    found: list[LessonSource] = []
    for citation in citations:
        if getattr(citation, "type", None) != "content_block_location" or citation.document_index != 0:
            continue
        for index in range(max(0, citation.start_block_index), min(len(parts), citation.end_block_index)):
            source = LessonSource(lesson.number, parts[index].section)
            if source not in found:
                found.append(source)
    return tuple(found)


def source_label(source: LessonSource) -> str:
    """``Lesson 2 · Iterating the stream``"""
    return f"Lesson {source.lesson} · {source.section}"


def sources_line(sources: Iterable[LessonSource]) -> str:
    """``📖 Lesson 2 · Iterating the stream · Stopping early`` (one lesson named once); "" for no sources."""
    by_lesson: dict[int, list[str]] = {}
    for source in sources:
        by_lesson.setdefault(source.lesson, []).append(source.section)
    return "  ".join(
        f"{SOURCE_MARK} Lesson {lesson} · " + " · ".join(sections) for lesson, sections in by_lesson.items()
    )


def section_text(lesson: Lesson, source: LessonSource) -> SectionText:
    """The section ``source`` names, as the lesson has it now; ``SectionGone`` when it has no such section."""
    title = f"{SOURCE_MARK} {source_label(source)}"
    if source.section == INTRODUCTION:
        lead = [s.markdown for s in lesson.sections if not s.heading]
        opening = f"**{lesson.opening_question}**" if lesson.opening_question else ""
        return SectionText(title, "\n\n".join(part for part in (lesson.summary, opening, *lead) if part))
    if source.section == KEY_TERMS and lesson.key_terms:
        return SectionText(title, "\n".join(f"- **{k.term}**: {k.definition}" for k in lesson.key_terms))
    for section in lesson.sections:
        if section.heading == source.section:
            return SectionText(title, section.markdown)
    raise SectionGone(f"Lesson {source.lesson} no longer has a section called \"{source.section}\".")
