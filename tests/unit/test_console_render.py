"""The console's Screen on a terminal (rich: highlighted code, drawn tables) and in a pipe (plain text)."""

from __future__ import annotations

import io
import re

import pytest

from bot.console.render import Screen
from bot.core.content.model import KeyTerm, Lesson, Section
from tests.unit.course_factory import make_module

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CODE = 'print(f"{value}")  # list[str] stays as written'
MARKDOWN = f"""Intro with [bold]brackets[/bold] that are not markup.

```python
{CODE}
```

| Event | Fields |
|---|---|
| message_start | usage |
"""
LESSON = Lesson(
    number=1,
    title="Streams",
    summary="Why we stream.",
    opening_question="Why does it feel faster?",
    sections=(Section(heading="The lifecycle", markdown=MARKDOWN),),
    key_terms=(KeyTerm(term="TTFT", definition="Time to first token."),),
)


@pytest.fixture(autouse=True)
def colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich reads the terminal's colour support from the environment: make it the same everywhere."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def render(*, terminal: bool) -> str:
    out = io.StringIO()
    Screen.on(out, terminal=terminal, width=100).lesson(make_module(), LESSON)
    return out.getvalue()


def test_a_lesson_on_a_terminal_has_highlighted_code_and_drawn_tables() -> None:
    shown = render(terminal=True)
    text = ANSI.sub("", shown)

    code_line = next(line for line in shown.splitlines() if "print" in line)
    assert len(ANSI.findall(code_line)) > 2, "the code is syntax-highlighted"
    assert CODE in text
    assert "[bold]brackets[/bold]" in text  # course text is never read as markup
    assert "|---|" not in text and "message_start" in text  # the pipe table is drawn as a table
    assert "The lifecycle" in text and "Why does it feel faster?" in text
    assert re.search(r"TTFT\s+│\s+Time to first token\.", text)  # key terms table
    assert "/quiz 1" in text  # what to do next


def test_a_lesson_in_a_pipe_is_plain_markdown() -> None:
    shown = render(terminal=False)

    assert "\x1b" not in shown
    assert f"```python\n{CODE}\n```" in shown  # code stays copyable
    assert "| message_start | usage |" in shown  # tables stay pipe tables
    assert "## The lifecycle" in shown
    assert "- TTFT: Time to first token." in shown
