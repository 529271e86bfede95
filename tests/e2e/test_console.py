"""``coursebot console`` driven as a user would script it: a subprocess fed through a pipe.

Each test runs ``python -m bot console`` with its own database and the real ``content/``; the expected
answers, titles and feedback are read from that content with the loader, so the tests follow the course as
it is edited. Piped output must be plain text: no ANSI escape codes, no box drawing.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from bot.core import messages
from bot.core.content.loader import load_course
from bot.core.content.model import Course, Module, ModuleTest, Option, Question
from bot.core.messages import STOPPED as STOPPED_NOTICE
from bot.core.messages import UNAVAILABLE
from tests.emulators.anthropic import FakeAnthropic, Reply

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
RUN_TIMEOUT = 60.0  # seconds one console session may take before the test fails
BOX_DRAWING = re.compile("[\u2500-\u257f]")


@dataclass
class Session:
    stdout: str
    stderr: str
    returncode: int


@pytest.fixture(scope="module")
def course() -> Course:
    return load_course(CONTENT)


@pytest.fixture
def module(course: Course) -> Module:
    return course.modules[course.default_module]


class Console:
    """Starts ``python -m bot console`` sessions over pipes; every session of a test shares its database."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    async def start(self, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        environment = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("ANTHROPIC_", "DISCORD_", "SLACK_", "COURSEBOT_"))
        }
        environment |= {
            "COURSEBOT_DB": str(self.workdir / "course.db"),
            "COURSEBOT_CONTENT": str(CONTENT),
            "FORCE_COLOR": "1",  # a pipe stays plain even when colour is forced
            **(env or {}),
        }
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "console",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=self.workdir,  # no developer .env is read
            env=environment,
        )

    async def finish(self, process: asyncio.subprocess.Process, lines: tuple[str, ...], seen: bytes = b"") -> Session:
        """Send the remaining ``lines``, close stdin and collect the session (``seen``: stdout read so far)."""
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate("".join(f"{line}\n" for line in lines).encode()), RUN_TIMEOUT
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        session = Session((seen + stdout).decode(), stderr.decode(), process.returncode or 0)
        assert "\x1b" not in session.stdout, "piped output must not contain ANSI escape codes"
        assert not BOX_DRAWING.search(session.stdout), "piped output must not contain box drawing"
        return session

    async def __call__(self, *lines: str, env: dict[str, str] | None = None) -> Session:
        """A whole session: ``lines`` piped to stdin, then end of input."""
        return await self.finish(await self.start(env), lines)


@pytest.fixture
def console(tmp_path: Path) -> Console:
    return Console(tmp_path)


async def read_until(process: asyncio.subprocess.Process, marker: bytes) -> bytes:
    """Read stdout until ``marker`` has appeared (bounded); return everything read."""
    assert process.stdout is not None
    seen = b""
    async with asyncio.timeout(RUN_TIMEOUT):
        while marker not in seen:
            chunk = await process.stdout.read(4096)
            assert chunk, f"the console ended before printing {marker!r}: {seen.decode()}"
            seen += chunk
    return seen


def answer(question: Question, *, correct: bool) -> str:
    """The line that picks the correct option, or the first wrong one (options are numbered from 1)."""
    option = question.correct_option if correct else next(o for o in question.options if not o.correct)
    return str(option.index + 1)


def first_code_line(markdown: str) -> str:
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.strip():
            return line
    return ""


def first_table_cell(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            return next(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
    return ""


async def test_lesson_is_rendered_as_plain_text_with_code_and_tables(console: Console, module: Module) -> None:
    lesson = module.lessons[module.lesson_numbers[0]]
    code = next(line for s in lesson.sections if (line := first_code_line(s.markdown)))
    cell = next(cell for s in lesson.sections if (cell := first_table_cell(s.markdown)))
    second = module.lessons[module.lesson_numbers[1]]

    session = await console(f"/lesson {lesson.number}", f"lesson {second.number}")

    assert session.returncode == 0, session.stderr
    out = session.stdout
    assert f"Lesson {lesson.number}: {lesson.title}" in out
    assert lesson.opening_question in out
    assert code in out
    assert cell in out
    assert all(term.term in out and term.definition in out for term in lesson.key_terms)
    assert f"Lesson {second.number}: {second.title}" in out  # the slash is optional


async def test_quiz_gives_feedback_and_keeps_the_first_answer(console: Console, module: Module) -> None:
    quiz = module.quizzes[module.lesson_numbers[0]]
    first, second, third = quiz.questions[:3]
    wrong = next(o for o in second.options if not o.correct)

    session = await console(
        f"/quiz {quiz.lesson}",
        answer(first, correct=True),
        answer(second, correct=False),
        "x", "9", "",  # bad answers are refused; the question waits
        answer(third, correct=True),
    )

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert f"Question 1/{len(quiz.questions)}" in out and first.prompt in out
    assert f"Your answer: {wrong.index + 1}) {wrong.label}" in out  # a piped answer is echoed
    assert f"✓ {first.correct_option.feedback}" in out
    assert f"✗ {wrong.feedback}" in out
    assert f"The answer: {second.correct_option.index + 1}) {second.correct_option.label}" in out
    assert out.count(f"Please type a number from 1 to {len(third.options)}") == 2
    assert f"Quiz score: 2/{len(quiz.questions)} correct" in out

    again = await console(f"/quiz {quiz.lesson}", answer(second, correct=True), "/progress")

    out = again.stdout
    assert "You have answered every question of this quiz" in out
    assert out.count("You answered this one already") == len(quiz.questions)
    assert f"✗ {wrong.feedback}" in out  # the first (wrong) answer still counts
    assert f"Quiz score: 2/{len(quiz.questions)} correct" in out
    assert f"L{quiz.lesson} 2/{len(quiz.questions)}" in out  # /progress
    assert "Please type a number" not in out and "A number on its own is an answer" in out  # nothing was asked


def score_line(score: int, total: int) -> str:
    return f"Score: {score}/{total} ({score * 100 // total}%)"  # whole percent, rounded down


class Piped:
    """One console session driven line by line: each test answer is chosen from the question as shown.

    Every attempt has its own order of questions and options, so a test answer is only known once its
    question is on screen: the driver reads until the question and all its options have been printed.
    """

    def __init__(self, console: Console, process: asyncio.subprocess.Process) -> None:
        self.console = console
        self.process = process
        self.seen = b""
        self.read_to = 0  # where the next question is looked for

    async def send(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"{line}\n" for line in lines).encode())
        await self.process.stdin.drain()

    async def until(self, marker: str, start: int) -> int:
        """Read until ``marker`` is printed after byte ``start``; where it ends."""
        assert self.process.stdout is not None
        needle = marker.encode()
        async with asyncio.timeout(RUN_TIMEOUT):
            while needle not in self.seen[start:]:
                chunk = await self.process.stdout.read(4096)
                assert chunk, f"the console ended before printing {marker!r}: {self.seen.decode()}"
                self.seen += chunk
        return self.seen.index(needle, start) + len(needle)

    async def answer_test(self, test: ModuleTest, first: int, count: int, *, correct: Callable[[int], bool]) -> None:
        """Answer questions ``first``..``first + count - 1`` (1-based, as numbered on screen)."""
        total = len(test.questions)
        for position in range(first, first + count):
            at = await self.until(f"Question {position}/{total}\n", self.read_to)
            end = await self.until("\n", at)  # the prompt's line
            prompt = self.seen[at:end].decode()
            question = next(q for q in test.questions if q.prompt in prompt)
            wanted = question.correct_option if correct(position) else next(o for o in question.options if not o.correct)
            await self.send(str(await self._option_number(wanted, at)))
            self.read_to = at

    async def _option_number(self, option: Option, at: int) -> int:
        """The number the option is shown with in this attempt (all options are printed before the wait)."""
        end = await self.until(f") {option.label}\n", at)
        line = self.seen[:end].decode(errors="ignore").rstrip("\n").rsplit("\n", 1)[-1]
        return int(line.strip().split(")", 1)[0])

    async def finish(self, *lines: str) -> Session:
        return await self.console.finish(self.process, lines, self.seen)


async def test_module_test_passes_at_the_pass_mark_and_fails_below(console: Console, module: Module) -> None:
    test = module.test
    assert test is not None
    total = len(test.questions)
    at_mark = math.ceil(Fraction(str(test.pass_mark)) * total)  # the least passing score
    below = at_mark - 1

    piped = Piped(console, await console.start())
    await piped.send("/test")
    await piped.answer_test(test, 1, total, correct=lambda position: position <= at_mark)
    await piped.send("/test")
    await piped.answer_test(test, 1, total, correct=lambda position: position <= below)
    session = await piped.finish("/progress")

    out = session.stdout
    assert session.returncode == 0, session.stderr
    for number in range(1, total + 1):
        assert out.count(f"Question {number}/{total}") == 2
    failing = score_line(below, total)
    assert f"{score_line(at_mark, total)} Passed!" in out
    assert f"{failing} Not passed yet." in out
    review = out.split(failing)[1]
    assert review.count("You chose: ") == total - below
    for question in test.questions:  # every missed question: why the choice is wrong, and the answer
        if question.prompt in review:
            chosen = next(o for o in question.options if not o.correct)
            assert chosen.label in review and chosen.feedback in review
            assert question.correct_option.label in review
    best = at_mark * 100 // total
    retake = out.split(score_line(at_mark, total))[1]
    assert f"This is attempt 2. Your best so far: {best}% (passed)" in retake
    assert f"best {best}% · passed ✓ · 2 attempts" in out


async def test_test_resumes_in_a_new_session_after_quit_or_end_of_input(console: Console, module: Module) -> None:
    test = module.test
    assert test is not None
    total = len(test.questions)

    def always(position: int) -> bool:
        return True

    piped = Piped(console, await console.start())
    await piped.send("/test")
    await piped.answer_test(test, 1, 5, correct=always)
    first = await piped.finish("/progress", "/quit", "/progress")

    assert first.returncode == 0, first.stderr
    assert f"Test paused at question 6/{total}. Type /test to resume." in first.stdout
    assert "not taken yet" not in first.stdout
    assert f"paused at 6/{total}: /test resumes" in first.stdout
    assert first.stdout.count("Your progress") == 1  # /quit ended the session

    piped = Piped(console, await console.start())
    await piped.send("/test")
    await piped.answer_test(test, 6, 1, correct=always)
    second = await piped.finish()  # the input ends mid-test

    assert second.returncode == 0, second.stderr
    assert "Welcome back, " in second.stdout and f"paused at question 6/{total}" in second.stdout
    assert f"Resuming your test at question 6/{total}." in second.stdout

    piped = Piped(console, await console.start())
    await piped.send("")  # Enter takes the welcome's offer: the paused test
    await piped.answer_test(test, 7, total - 6, correct=always)
    third = await piped.finish("/progress")

    out = third.stdout
    assert f"Press Enter to resume with /test {module.number}" in out
    assert f"Resuming your test at question 7/{total}." in out
    assert f"Question 6/{total}" not in out
    assert f"Score: {total}/{total} (100%) Passed!" in out
    assert "best 100% · passed ✓ · 1 attempt" in out


async def test_a_returning_learner_is_offered_the_next_lesson(console: Console, module: Module) -> None:
    first, second = module.lesson_numbers[:2]
    new = await console(f"/lesson {first}")
    assert "Welcome, " in new.stdout and "Welcome back" not in new.stdout

    back = await console("")  # Enter at the first prompt

    out = back.stdout
    assert back.returncode == 0, back.stderr
    assert "Welcome back, " in out and f"the last one: lesson {first}, {module.lessons[first].title}" in out
    assert f"Press Enter to resume with /lesson {second} {module.number}" in out
    assert f"Lesson {second}: {module.lessons[second].title}" in out


async def test_bad_input_gets_a_friendly_message_and_changes_nothing(console: Console, course: Course, module: Module) -> None:
    missing_lesson = max(module.lesson_numbers) + 1
    missing_module = max(course.module_numbers) + 1
    session = await console(
        "/dance", "hello there", f"/lesson {missing_lesson}", "/lesson two", "/quiz", "/lesson 1 2 3",
        f"/lesson 1 {missing_module}", f"/lab {max(module.lab_numbers) + 1}", "3", "/back", "/progress",
    )

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert "I don't know the command '/dance'" in out
    assert "I don't know the command '/hello'" in out
    assert f"There is no lesson {missing_lesson} in Module {module.number}" in out
    assert "'two' is not a number. Usage: /lesson N [module]" in out
    assert "Which one? Usage: /quiz N [module]" in out
    assert "Too many words after /lesson" in out
    assert f"There is no Module {missing_module}" in out
    assert f"There is no lab {max(module.lab_numbers) + 1}" in out
    assert "A number on its own is an answer" in out
    assert "You are not in a lab" in out
    assert f"0/{len(module.lessons)} read" in out
    quiz_total = sum(len(quiz.questions) for quiz in module.quizzes.values())
    assert re.search(rf"Quizzes\s+░+\s+0/{quiz_total} correct", out)
    assert "not taken yet" in out


async def test_lab_without_an_api_key_says_how_to_set_one(console: Console, module: Module) -> None:
    lab = module.labs[module.lab_numbers[0]]
    session = await console(f"/lab {lab.number}", "/lesson 1")

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert "ANTHROPIC_API_KEY is not set" in out
    assert "export ANTHROPIC_API_KEY=" in out and ".env" in out
    assert lab.greeting not in out
    assert f"Lesson 1: {module.lessons[1].title}" in out  # still in the course


async def test_lab_streams_answers_from_claude_and_completes(
    console: Console, module: Module, fake_anthropic: FakeAnthropic
) -> None:
    lab = module.labs[module.lab_numbers[0]]
    reply = "Streaming shows the first words at once; TTFT is what the learner feels."
    fake_anthropic.reply = Reply(text=reply, chunk_chars=5)
    own = "How do I measure TTFT myself?"
    asked = [lab.suggested_questions[0], own, lab.suggested_questions[1]]
    env = {"ANTHROPIC_API_KEY": fake_anthropic.api_key, "ANTHROPIC_BASE_URL": fake_anthropic.url}
    assert lab.questions_to_complete <= len(asked)

    session = await console(
        f"/lab {lab.number}", "1", own, f"{len(lab.suggested_questions) + 1}", "2", "/back", "/progress", env=env,
    )

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert lab.greeting in out and lab.assistant_name in out
    assert all(f"{n}) {q}" in out for n, q in enumerate(lab.suggested_questions, start=1))
    assert all(f"You: {question}" in out for question in asked)  # piped questions are echoed too
    assert [request.question for request in fake_anthropic.requests] == asked
    assert out.count(reply) == 3  # each answer printed once: streamed pieces are appended, not repeated
    needed = lab.questions_to_complete
    assert f"Questions asked: 0/{needed}" in out  # the lab's intro; each answer's footer counts on
    for count in range(1, needed):
        assert f"Question {count} of {needed}" in out
    assert f"🎉 Lab {lab.number} complete!" in out
    assert out.count(" tok/s") == len(asked)  # one footer per answer
    assert f"There are {len(lab.suggested_questions)} suggested questions" in out
    assert "Left lab" in out
    assert f"1/{len(module.labs)} complete" in out


async def test_ctrl_c_stops_a_streaming_answer_and_the_lab_goes_on(
    console: Console, module: Module, fake_anthropic: FakeAnthropic
) -> None:
    lab = module.labs[module.lab_numbers[0]]
    fake_anthropic.reply = Reply(text="Tokens arrive one by one. " * 200, tokens_per_second=20)
    env = {"ANTHROPIC_API_KEY": fake_anthropic.api_key, "ANTHROPIC_BASE_URL": fake_anthropic.url}

    process = await console.start(env)
    assert process.stdin is not None
    process.stdin.write(f"/lab {lab.number}\nWhy stream?\n".encode())
    await process.stdin.drain()
    seen = await read_until(process, b"Tokens arrive")
    process.send_signal(signal.SIGINT)
    session = await console.finish(process, ("/progress",), seen)

    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert STOPPED_NOTICE in out
    assert out.count("Tokens arrive") < 200  # the answer did not run to its end
    assert "Your progress" in out  # the session went on
    request = fake_anthropic.requests[0]
    async with asyncio.timeout(5):  # the fake notices the closed connection at its next write
        while request.outcome == "pending":
            await asyncio.sleep(0.01)
    assert request.outcome == "client_closed"


async def test_a_rejected_key_tells_the_learner_as_operator_where_to_look(
    console: Console, module: Module, fake_anthropic: FakeAnthropic, tmp_path: Path,
) -> None:
    lab = module.labs[module.lab_numbers[0]]
    env = {"ANTHROPIC_API_KEY": "sk-ant-wrong-key", "ANTHROPIC_BASE_URL": fake_anthropic.url}

    session = await console(f"/lab {lab.number}", "Why stream?", "And now?", env=env)

    out = session.stdout
    logs = tmp_path / "course-console.log"
    assert session.returncode == 0, session.stderr
    assert out.count(UNAVAILABLE) == 2  # the failed answer, then the question refused without an API call
    assert out.count(f"You are this bot's operator here: the reason is logged in {logs}") == 2
    assert "ANTHROPIC_API_KEY" in logs.read_text() and "sk-ant-wrong-key" not in logs.read_text()
    assert session.stderr == "" and fake_anthropic.request_count == 1


async def test_an_api_that_cannot_be_reached_is_not_called_a_dropped_connection(
    console: Console, module: Module, unused_tcp_port: int,
) -> None:
    lab = module.labs[module.lab_numbers[0]]
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}"}

    session = await console(f"/lab {lab.number}", "Why stream?", env=env)

    assert session.returncode == 0, session.stderr
    assert messages.TRY_AGAIN.format(reason="could not reach the API") in session.stdout
    assert "dropped" not in session.stdout
