"""Split a lesson's Markdown body into sections at ``## `` headings outside code fences."""

from __future__ import annotations

import re

from bot.core.content.model import Section

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_CLOSING_HASHES = re.compile(r"(?:^|\s+)#+\s*$")
_KEY_TERMS_HEADING = "key terms"  # the bot renders key terms from the front matter itself
_KEY_TERMS_PROBLEM = "key terms belong in the front matter ('key_terms:'), not in a '## Key terms' section"


def split_sections(body: str, first_line: int) -> tuple[list[Section], list[tuple[int, str]]]:
    """Return the sections and the problems found (``(line, message)``).

    Text before the first heading becomes a section with an empty heading. ``first_line`` is
    the file line ``body`` starts on, so problems name lines of the whole file.
    """
    problems: list[tuple[int, str]] = []
    sections: list[Section] = []
    heading, heading_line, lines = "", first_line, []
    fence: str | None = None  # the opening fence marker while inside a code block
    fence_line = 0

    def close_section() -> None:
        markdown = "\n".join(lines).strip("\n")
        if heading and not markdown.strip():
            problems.append((heading_line, f"section '{heading}' has no text under its heading"))
        if heading or markdown.strip():
            sections.append(Section(heading=heading, markdown=markdown))

    for number, line in enumerate(body.splitlines(), start=first_line):
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1).startswith(fence) and not line[fence_match.end() :].strip():
                fence = None
        elif fence_match:
            fence, fence_line = fence_match.group(1), number
        elif line.startswith("## ") or line.rstrip() == "##":
            close_section()
            heading, heading_line, lines = _CLOSING_HASHES.sub("", line[3:].strip()), number, []
            if not heading:
                problems.append((number, "a '## ' heading needs a title"))
            elif heading.casefold() == _KEY_TERMS_HEADING:
                problems.append((number, _KEY_TERMS_PROBLEM))
            continue
        lines.append(line)
    if fence is not None:
        problems.append((fence_line, f"code fence '{fence}' opened here is never closed"))
    close_section()
    if not sections:
        problems.append((first_line, "the lesson has no text after its front matter"))
    return sections, problems
