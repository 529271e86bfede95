"""A lab answer's sources and feedback in the console, over pipes: the sources listed under a cited answer,
``/source N`` printing the lesson section, ``/feedback good|bad [reason]`` stored once and changed."""

from __future__ import annotations

import getpass
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.core.citations import lesson_parts, section_text
from bot.core.content.loader import load_course
from bot.core.feedback import NO_LAST_ANSWER, REASON_MAX
from bot.core.store.base import LessonSource
from tests.e2e.learner_rows import learner_id
from tests.e2e.test_console import CONTENT, Console
from tests.emulators.anthropic import Cited, FakeAnthropic, Reply

pytestmark = pytest.mark.e2e

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]
LAB = MODULE.labs[MODULE.lab_numbers[0]]
TEXT = "Here is how it works. The lesson explains it in its own words, so read that part again."


def feedback_rows(db: Path) -> list[tuple[int, int, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return [tuple(row) for row in conn.execute(
            "SELECT learner_id, helpful, reason FROM answer_feedback ORDER BY id")]


async def test_sources_are_listed_and_printed_and_feedback_is_stored_once(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    lab = LAB
    lesson = MODULE.lessons[lab.lesson]
    parts = lesson_parts(lesson)
    cited = next(i for i, part in enumerate(parts) if part.section == lesson.sections[1].heading)
    section = parts[cited].section
    fake_anthropic.reply = Reply(parts=("Here is how it works. ", Cited("The lesson explains it in its own words",
                                                                        cited), ", so read that part again."))
    env = {"ANTHROPIC_API_KEY": fake_anthropic.api_key, "ANTHROPIC_BASE_URL": fake_anthropic.url}

    session = await Console(tmp_path)(
        "/feedback good", "/source 1", f"/lab {lab.number}", "Where does the lesson say this?",
        "/source 1", "/source 2", "/feedback good", "/feedback maybe", f"/feedback bad {'x' * (REASON_MAX + 1)}",
        "/feedback bad It ignored the with block.", env=env,
    )

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert NO_LAST_ANSWER in out and "No lab answer yet" in out  # before any answer: nothing to rate or open
    assert f"{TEXT}\n\n📖 Lesson {lesson.number} · {section}\nTTFT " in out  # the answer, then its footer
    assert f"/source 1 · Lesson {lesson.number} · {section}" in out
    assert "Did this help? /feedback good|bad [reason]" in out
    shown = section_text(lesson, LessonSource(lesson.number, section))
    first_line = next(line for line in shown.markdown.splitlines() if line.strip())
    assert f"{shown.title}\n{first_line}" in out  # /source 1 prints the section as the lesson has it
    assert "The last answer has 1 source: type /source 1." in out
    assert "👍 Thanks! Glad the answer helped." in out
    assert "Usage: /feedback good|bad [reason]" in out
    assert f"under {REASON_MAX} characters" in out
    assert "👎 Thanks: your reason was saved with your feedback." in out
    db = tmp_path / "course.db"
    me = learner_id(db, "console", "local", getpass.getuser())
    assert feedback_rows(db) == [(me, 0, "It ignored the with block.")]  # one row: the second vote changed it


async def test_an_answer_without_citations_lists_no_sources(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    lab = LAB
    fake_anthropic.reply = Reply(text="A plain answer.", chunk_chars=5)
    env = {"ANTHROPIC_API_KEY": fake_anthropic.api_key, "ANTHROPIC_BASE_URL": fake_anthropic.url}

    session = await Console(tmp_path)(f"/lab {lab.number}", "Anything?", "/source 1", "/feedback bad", env=env)

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert "📖" not in out and "/source 1 ·" not in out
    assert "The last answer cites no lesson section." in out
    assert "👎 Thanks for telling us." in out
    assert [(helpful, reason) for _, helpful, reason in feedback_rows(tmp_path / "course.db")] == [(0, "")]
