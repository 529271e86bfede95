"""``coursebot console`` in a real pseudo-terminal, its screen rendered by a terminal emulator.

pexpect runs the console on a pty of a given size; everything it writes is fed to pyte, a VT100 emulator,
and the assertions read pyte's screen: what a learner would see, after every cursor move and erase. The
fake Anthropic API runs on the test's event loop, so the pty is read in a worker thread.

pyte 0.8.2 drops the rest of a line after U+FE0F (the emoji variation selector, as in "⏹️"), so that one
code point is taken out before feeding it; everything else reaches the emulator as written.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import unicodedata
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pexpect
import pyte
import pytest

from bot.core.content.loader import load_course
from bot.core.content.model import Module
from bot.core.messages import STOPPED
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
ROWS = 150  # tall enough that nothing a test looks at scrolls off the emulated screen
WAIT = 20.0  # seconds a test waits for the screen before it fails
VARIATION_SELECTOR = "\ufe0f"
WORLD = "🚀🔥 👍🏽 日本語のテキスト 中文字符 한국어 cafe\u0301 n\u0303"  # emoji, a modifier, CJK, combining marks
ANSWER = (
    "## Streaming in short\n\n"
    "Streaming is **faster to feel**: the `first token` arrives early, and the rest follows as it is written "
    "so the learner reads along instead of waiting for the whole answer to be generated.\n\n"
    f"{WORLD}\n\n"
    "- measure time to first token\n- then measure the whole answer\n\n"
    "Done."
)


class Terminal:
    """A console session on a pty of ``columns`` columns, with the screen as pyte draws it."""

    def __init__(self, child: pexpect.spawn, columns: int) -> None:
        self.child = child
        self.screen = pyte.Screen(columns, ROWS)
        self.stream = pyte.Stream(self.screen)

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.rows())

    async def wait_for(self, check: str | Callable[[str], bool]) -> str:
        """Read the pty until the screen shows ``check`` (a text, or a test of the screen's text)."""
        test = check if callable(check) else (lambda screen: check in screen)
        try:
            async with asyncio.timeout(WAIT):
                while not test(self.text()):
                    self.feed(await asyncio.to_thread(self._read))
        except TimeoutError:
            raise AssertionError(f"the screen never showed {check!r}:\n{self.text()}") from None
        return self.text()

    def feed(self, data: str) -> None:
        self.stream.feed(data.replace(VARIATION_SELECTOR, ""))

    def _read(self) -> str:
        try:
            return self.child.read_nonblocking(65536, timeout=0.2)
        except pexpect.TIMEOUT:
            return ""
        except pexpect.EOF:
            raise AssertionError(f"the console ended early; the screen:\n{self.text()}") from None

    def line(self, text: str) -> None:
        self.child.send(text + "\r")

    async def finished(self) -> int:
        """Wait for the process to end; its exit status (a death by signal fails the test)."""
        async with asyncio.timeout(WAIT):
            while self.child.isalive():
                try:
                    self.feed(await asyncio.to_thread(self.child.read_nonblocking, 65536, 0.2))
                except (pexpect.TIMEOUT, pexpect.EOF):
                    await asyncio.sleep(0.05)
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}:\n{self.text()}"
        return self.child.exitstatus


@pytest.fixture
def module() -> Module:
    course = load_course(CONTENT)
    return course.modules[course.default_module]


@pytest.fixture
def start(tmp_path: Path) -> AsyncIterator[Callable[..., Terminal]]:
    children: list[pexpect.spawn] = []

    def spawn(columns: int, *, fake: FakeAnthropic | None = None, via_make: bool = False) -> Terminal:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DISCORD_", "SLACK_",
                                                                          "COURSEBOT_"))}
        env |= {"COURSEBOT_DB": str(tmp_path / "course.db"), "COURSEBOT_CONTENT": str(CONTENT),
                "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(ROWS), "PYTHONIOENCODING": "utf-8"}
        if fake is not None:
            env |= {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}
        command, args = sys.executable, ["-m", "bot", "console"]
        if via_make:  # as `make run` starts it: a child in make's process group
            (tmp_path / "Makefile").write_text(f"run:\n\t{sys.executable} -m bot console\n")
            command, args = "make", ["-s", "run"]
        child = pexpect.spawn(command, args, env=env, cwd=str(tmp_path), dimensions=(ROWS, columns),
                              encoding="utf-8", codec_errors="strict")
        children.append(child)
        return Terminal(child, columns)

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


async def open_lab(terminal: Terminal, module: Module) -> None:
    lab = module.labs[module.lab_numbers[0]]
    await terminal.wait_for("coursebot>")
    terminal.line(f"/lab {lab.number}")
    await terminal.wait_for(f"lab {lab.number}>")


@pytest.mark.parametrize("columns", [120, 60])
async def test_an_answer_is_rendered_markdown_with_cjk_and_emoji_exact_and_no_log_text(
    start: Callable[..., Terminal], fake_anthropic: FakeAnthropic, module: Module, tmp_path: Path, columns: int,
) -> None:
    fake_anthropic.script(Failure(529))  # a retry: the SDK logs it while the answer waits
    fake_anthropic.reply = Reply(text=ANSWER, chunk_chars=3, tokens_per_second=400)
    terminal = start(columns, fake=fake_anthropic)
    await open_lab(terminal, module)

    terminal.line("Why stream?")
    screen = await terminal.wait_for("Done.")

    rows = terminal.rows()
    # One row, every character where it belongs: nothing dropped, nothing doubled (pyte composes "e" and
    # U+0301 into one "é" cell, as a terminal draws them).
    assert unicodedata.normalize("NFC", WORLD) in rows
    answer = "\n".join(rows[next(i for i, row in enumerate(rows) if row.endswith("> Why stream?")) :]).rstrip()
    assert "\n\n\n" not in answer  # redraws left no stray rows: one blank line between blocks, as rendered
    assert "Streaming in short" in screen and "first token" in screen
    assert "##" not in screen and "**" not in screen and "`" not in screen  # rendered, not Markdown source
    assert all(len(row) <= columns for row in rows)
    body = [row for row in rows if row.strip()]
    words = " ".join(body)
    assert "faster to feel" in words and "whole answer to be generated" in words
    assert not any(row.endswith(("thr", "fir", "gen")) for row in body)  # words wrap whole, never mid-word
    log = (tmp_path / "course-console.log").read_text()
    assert "Retrying request" in log  # the retry was logged: to the file next to the database
    assert "Retrying request" not in screen and "INFO" not in screen and "anthropic." not in screen
    assert fake_anthropic.request_count == 2
    terminal.line("/quit")
    assert await terminal.finished() == 0


async def test_keys_typed_during_an_answer_are_not_echoed_or_sent(
    start: Callable[..., Terminal], fake_anthropic: FakeAnthropic, module: Module,
) -> None:
    fake_anthropic.reply = Reply(text="Tokens arrive one by one. " * 12 + "The end.", tokens_per_second=30)
    terminal = start(80, fake=fake_anthropic)
    await open_lab(terminal, module)

    terminal.line("Why stream?")
    await terminal.wait_for("Tokens arrive")
    terminal.line("typed ahead")
    screen = await terminal.wait_for(lambda text: "The end." in text and text.rstrip().endswith(">"))

    assert "typed ahead" not in screen
    terminal.line("/progress")
    screen = await terminal.wait_for("Your progress")
    assert "typed ahead" not in screen
    assert [request.question for request in fake_anthropic.requests] == ["Why stream?"]
    terminal.line("/quit")
    assert await terminal.finished() == 0


async def test_ctrl_c_stops_the_answer_and_quit_exits_0_under_make(
    start: Callable[..., Terminal], fake_anthropic: FakeAnthropic, module: Module,
) -> None:
    fake_anthropic.reply = Reply(text="Tokens arrive one by one. " * 200, tokens_per_second=20)
    terminal = start(80, fake=fake_anthropic, via_make=True)
    await open_lab(terminal, module)

    terminal.line("Why stream?")
    await terminal.wait_for("Tokens arrive")
    terminal.child.sendintr()
    screen = await terminal.wait_for(STOPPED.replace(VARIATION_SELECTOR, ""))

    assert screen.count("Tokens arrive") < 200
    terminal.line("/progress")
    await terminal.wait_for("Your progress")  # the console, and make with it, go on after the Stop
    terminal.line("/quit")
    assert await terminal.finished() == 0  # make's status: it never saw the SIGINT
    assert "Interrupt" not in terminal.text()
    assert [r.outcome for r in await fake_anthropic.settled()] == ["client_closed"]


async def test_a_lesson_is_read_by_section_and_fits_a_narrow_screen(
    start: Callable[..., Terminal], module: Module,
) -> None:
    # The lesson with the widest table (the most text on one row): the hardest to fit in 60 columns.
    number, table, source = max(
        ((n, i, s.markdown) for n, lesson in module.lessons.items() for i, s in enumerate(lesson.sections)
         if "|" in s.markdown),
        key=lambda found: max(len(line) for line in found[2].splitlines() if line.startswith("|")),
    )
    lesson = module.lessons[number]
    count = len(lesson.sections)
    terminal = start(60)
    await terminal.wait_for("coursebot>")

    terminal.line(f"/lesson {number}")
    screen = await terminal.wait_for(f"/next: {lesson.sections[1].heading}")
    assert f"Lesson {number} · 1/{count}" in screen and lesson.sections[2].heading not in screen

    terminal.line(f"/section {table + 1}")
    label = f"Lesson {number} · {table + 1}/{count}"
    screen = await terminal.wait_for(lambda text: label in text and "the whole lesson" in text.split(label)[-1])
    shown = set(screen.split(label)[-1].split())
    cells = [line for line in source.splitlines() if line.startswith("|")][2:]  # the rows under the rule
    words = set(re.sub(r"[`*]", "", "\n".join(cells)).replace("|", " ").split())
    assert words <= shown  # every word of the table whole: wrapped between words, never cut or broken
    assert all(len(row) <= 60 for row in terminal.rows())

    terminal.line("/sections")
    screen = await terminal.wait_for("/section N goes to one.")
    assert all(f"{i}) " in screen for i in range(1, count + 1))

    terminal.line("/quit")
    assert await terminal.finished() == 0


async def test_quiz_options_show_inline_code_without_backticks(start: Callable[..., Terminal], module: Module) -> None:
    lesson, question = next(
        (number, question) for number, quiz in module.quizzes.items() for question in quiz.questions
        if any("`" in option.label for option in question.options)
    )
    option = next(option for option in question.options if "`" in option.label)
    terminal = start(120)
    await terminal.wait_for("coursebot>")

    terminal.line(f"/quiz {lesson}")
    for position, asked in enumerate(module.quizzes[lesson].questions, start=1):
        if asked.id == question.id:
            break
        await terminal.wait_for(f"Question {position}/")
        terminal.line(str(asked.correct_option.index + 1))
    screen = await terminal.wait_for(option.label.replace("`", ""))

    assert option.label not in screen and "`" not in screen
    terminal.line("/quit")
    assert await terminal.finished() == 0


async def test_a_dropped_connection_mid_code_leaves_the_text_once(
    start: Callable[..., Terminal], fake_anthropic: FakeAnthropic, module: Module,
) -> None:
    text = "Intro paragraph.\n\n```python\nfirst_line = 1\nsecond_line = 2\nthird_line = 3\n```\n\nAfter the code."
    fake_anthropic.reply = Reply(text=text, chunk_chars=6, cut=Cut("drop", after=7))
    terminal = start(60, fake=fake_anthropic)
    await open_lab(terminal, module)

    terminal.line("Show me code")
    screen = await terminal.wait_for("The answer was cut off")

    answer = screen.split("Show me code", 1)[1]
    assert answer.count("Intro paragraph.") == 1 and answer.count("first_line = 1") == 1
    assert "```" not in answer and "After the code." not in answer
    terminal.line("/quit")
    assert await terminal.finished() == 0
