"""``coursebot console``: the whole course in a terminal, and the default when no chat token is set.

A read-eval-print loop over the shared :class:`~bot.runtime.Runtime`. Input is read line by line, from the
keyboard (with line editing) or from a pipe, so a session can be scripted: every answer to a quiz or test
question is simply the next line, and the end of input ends the session (exit code 0; an unfinished test
stays open and ``/test`` resumes it next time).

The loop itself is synchronous; each course call runs on one long-lived event loop (``asyncio.Runner``),
which is what lets Ctrl-C cancel the call in flight, or stop a streaming lab answer, and return to the prompt.
On a terminal the console owns the foreground while it runs (Ctrl-C reaches it alone, not ``make``), keys
typed during an answer are neither echoed nor sent, lessons are read a section at a time, and logs go to a
file next to the database (:func:`log_file`), never onto the screen.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings
from bot.console.answer_extras import AnswerExtras
from bot.console.commands import SPECS, Command, CommandError, choice, parse
from bot.console.export import export_data
from bot.console.render import Screen
from bot.console.review import ConsoleReview
from bot.console.session import AnswerMessage, console_learner, quiet_keyboard, stop_on_interrupt, terminal_foreground
from bot.console.terminal_sink import TerminalSink
from bot.core import messages
from bot.core.content.loader import ContentError
from bot.core.content.model import Lab, Lesson, Module, Question
from bot.core.course import CourseError, LabProgress, ModuleProgress, QuizOutcome, TestState, TestStep
from bot.core.labs import Ticket
from bot.core.store.base import LabThread, StoreError
from bot.core.streaming.pacing import Pacer, RateLimits
from bot.logs import secret_values, setup_logging
from bot.runtime import Runtime

T = TypeVar("T")
log = logging.getLogger(__name__)

PLATFORM = "console"
# A terminal takes redraws as fast as we like; the pacer only keeps them from being wasted work.
TERMINAL_LIMITS = RateLimits(per_bucket=(20, 1.0), global_=None)


def run_console(settings: Settings) -> int:
    """Run the console course until /quit or the end of input; return the process exit code."""
    logs = log_file(settings)
    setup_logging(settings.log_level, secret_values(settings.anthropic_api_key))
    try:
        log_to(logs)
    except OSError as exc:
        print(f"Cannot write the log file {logs}: {exc}", file=sys.stderr)
        return 1
    with terminal_foreground():
        return _run_console(settings, logs)


def _run_console(settings: Settings, logs: Path) -> int:
    screen = Screen.for_stdout()
    with asyncio.Runner() as runner:
        try:
            runtime = runner.run(Runtime.start(settings))
        except ContentError as exc:
            print(f"The course content in {settings.content} has problems:\n{exc}", file=sys.stderr)
            return 1
        except (StoreError, OSError) as exc:
            print(f"Cannot open the database: {exc}", file=sys.stderr)
            return 1
        try:
            ConsoleApp(runtime, screen, LineReader(sys.stdin.isatty()), runner, logs=logs).run()
        finally:
            runner.run(runtime.close())
    return 0


def log_file(settings: Settings) -> Path:
    """Where the console logs: next to the database (``coursebot.db`` -> ``coursebot-console.log``)."""
    return settings.files_base.parent / f"{settings.files_base.stem}-console.log"


def log_to(path: Path) -> None:
    """Send the log records to ``path`` instead of stderr: the terminal is the learner's screen.

    The handler keeps the format and the secret-masking filter that ``setup_logging`` gave stderr. Python
    warnings (which would print on stderr, into the screen) are logged there too.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    root = logging.getLogger()
    for previous in root.handlers:
        handler.setFormatter(previous.formatter)
        for log_filter in previous.filters:
            handler.addFilter(log_filter)
    root.handlers[:] = [handler]
    logging.captureWarnings(True)


def new_event_id() -> str:
    return f"{PLATFORM}:{uuid.uuid4()}"


class LineReader:
    """Lines from the keyboard (prompt, line editing) or from a pipe (no prompt). ``None`` at the end."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        if interactive:
            try:
                import readline  # noqa: F401  (imported for its side effect: input() gets line editing)
            except ImportError:
                pass

    def read(self, prompt: str) -> str | None:
        """The next line; raises ``KeyboardInterrupt`` on Ctrl-C."""
        if self.interactive:
            try:
                return input(prompt)
            except EOFError:
                print()
                return None
        line = sys.stdin.readline()
        return line.rstrip("\r\n") if line else None


class LeaveFlow(Exception):
    """A quiz or test was left: by a command typed instead of an answer, Ctrl-C (``""``), or end of input."""

    def __init__(self, line: str | None) -> None:
        super().__init__(line)
        self.line = line


@dataclass
class Reading:
    """The lesson open on a terminal, and the section on screen (lessons are read a section at a time)."""

    module: Module
    lesson: Lesson
    section: int = 0


@dataclass
class LabSession:
    """The lab the learner is in: its thread is keyed per learner and lab, so /lab N resumes it."""

    lab: Lab
    thread: LabThread
    progress: LabProgress


class ConsoleApp:
    def __init__(
        self, runtime: Runtime, screen: Screen, reader: LineReader, runner: asyncio.Runner, *, logs: Path,
    ) -> None:
        self.runtime = runtime
        self.logs = logs
        self.course = runtime.course
        self.screen = screen
        self.reader = reader
        self.runner = runner
        self.learner = console_learner()
        self.lab_session: LabSession | None = None
        self.reading: Reading | None = None
        self.pacer: Pacer | None = None  # created on the runner's loop when the first answer streams
        self.review = ConsoleReview(self)
        self.extras = AnswerExtras(self)  # the last lab answer's sources and feedback

    # -- the loop -------------------------------------------------------------------------------------

    def run(self) -> None:
        resume = self._welcome()
        pending: str | None = None
        while True:
            line = pending if pending is not None else self._read_command()
            pending = None
            if line is None:
                return
            if resume and not line.strip():  # Enter at the first prompt takes the offer of the welcome
                line = resume
            resume = None
            try:
                if not self.handle(line):
                    return
            except LeaveFlow as left:
                if left.line is None:
                    return
                pending = left.line or None

    def _read_command(self) -> str | None:
        prompt = f"lab {self.lab_session.lab.number}> " if self.lab_session else "coursebot> "
        while True:
            try:
                return self.reader.read(prompt)
            except KeyboardInterrupt:
                print()
                self.screen.hint("Type /quit (or press Ctrl-D) to leave coursebot.")

    def handle(self, line: str) -> bool:
        """Carry out one line; False when the learner quits."""
        try:
            command = parse(line, bare_words=self.lab_session is None)
            if command is None:
                if self.lab_session is not None and line.strip():
                    self._ask(self.lab_session, line.strip())
                return True
            return self._dispatch(command)
        except (CommandError, CourseError) as exc:
            self.screen.error(str(exc))
            if str(exc) == messages.UNAVAILABLE:
                self.screen.operator_hint(self.logs)
        except KeyboardInterrupt:
            print()
            self.screen.hint("Interrupted.")
        except LeaveFlow:
            raise
        except Exception:  # a bug or a broken database must not end the session; everything saved stays saved
            log.exception("console command failed: %s", line)
            self.screen.error("Something went wrong with that command (the details were logged). Please try again.")
        return True

    def _welcome(self) -> str | None:
        """Greet the learner; a returning one is told where they are. Returns the command offered to resume."""
        module = self.course.module()
        progress = self._run(self.course.progress(self.learner, module.number))
        paused = self._run(self.course.test_state(self.learner, module.number)) if module.test else None
        offer = resume_command(progress, paused)
        self.screen.welcome(self.course.content, progress, self.learner.display_name, paused_test=paused, offer=offer)
        self.review.greet()
        return offer

    def _dispatch(self, command: Command) -> bool:
        match command.name:
            case "quit":
                return False
            case "help":
                self.screen.help(SPECS, in_lab=self.lab_session is not None)
            case "modules":
                self.screen.modules(self.course.content, self.course.module().number)
            case "lesson":
                self._lesson(command)
            case "next" | "previous" | "section" | "sections":
                self._turn_page(command)
            case "quiz":
                self._quiz(command)
            case "test":
                self._test(command)
            case "progress":
                self._progress(command)
            case "review":
                self.review.run(command.words)
            case "export":
                export_data(self)
            case "lab":
                self._lab(command)
            case "source":
                assert command.number is not None
                self.extras.source(command.number)
            case "feedback":
                self.extras.feedback(command.words)
            case "back":
                self._back()
        return True

    def _progress(self, command: Command) -> None:
        module = self.course.module(command.module)
        progress = self._run(self.course.progress(self.learner, module.number))
        paused = self._run(self.course.test_state(self.learner, module.number)) if module.test else None
        self.screen.progress(progress, paused_test=paused)
        self.screen.hint(self.review.status_line())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    # -- lessons and quizzes ----------------------------------------------------------------------------

    def _lesson(self, command: Command) -> None:
        assert command.number is not None
        module = self.course.module(command.module)
        lesson = self._run(self.course.view_lesson(self.learner, command.number, module.number))
        if command.whole or not self.reader.interactive:  # a pipe gets the whole lesson: transcripts read on
            self.reading = None
            self.screen.lesson(module, lesson)
            return
        self.reading = Reading(module, lesson)
        self.screen.lesson_opening(module, lesson)
        self._show_section()

    def _turn_page(self, command: Command) -> None:
        """/next, /previous, /section N and /sections within the open lesson; /next after the last opens the
        following lesson."""
        reading = self.reading
        if reading is None:
            raise CommandError("No lesson is open. /lesson N opens one.")
        count = len(reading.lesson.sections)
        match command.name:
            case "sections":
                self.screen.sections(reading.lesson, reading.section)
                return
            case "section":
                assert command.number is not None
                if not 1 <= command.number <= count:
                    raise CommandError(f"Lesson {reading.lesson.number} has sections 1 to {count}.")
                reading.section = command.number - 1
            case "previous":
                if reading.section == 0:
                    raise CommandError("This is the first section. /sections lists them all.")
                reading.section -= 1
            case "next" if reading.section + 1 < count:
                reading.section += 1
            case _:
                following = next((n for n in reading.module.lesson_numbers if n > reading.lesson.number), None)
                if following is None:
                    raise CommandError("That was the last section of the module's last lesson. "
                                       + ("/test takes the module test." if reading.module.test else ""))
                self._lesson(Command("lesson", following, reading.module.number))
                return
        self._show_section()

    def _show_section(self) -> None:
        assert self.reading is not None
        self.screen.lesson_section(self.reading.module, self.reading.lesson, self.reading.section)

    def _quiz(self, command: Command) -> None:
        assert command.number is not None
        module = self.course.module(command.module)
        quiz = self.course.quiz(command.number, module.number)
        earlier = self._run(self.course.quiz_answers(self.learner, quiz.lesson, module.number))
        self.screen.say()
        self.screen.say(f"Quiz: {quiz.title} (lesson {quiz.lesson}, {len(quiz.questions)} questions)", style="bold")
        if not earlier:
            self.screen.hint("Type the number of your answer. Your first answer to each question is the one "
                             "that counts.")
        elif all(question.id in earlier for question in quiz.questions):
            self.screen.hint("You have answered every question of this quiz: here is your review.")
        correct = 0
        total = len(quiz.questions)
        for position, question in enumerate(quiz.questions, start=1):
            self.screen.question(question, f"Question {position}/{total}")
            if question.id in earlier:
                stored = earlier[question.id]
                outcome = QuizOutcome(
                    question=question, chosen=question.option(stored.option_index), correct=stored.correct,
                    already_answered=True,
                )
            else:
                try:
                    index = self._ask_option(question)
                except LeaveFlow:
                    self.screen.hint("Quiz left; your answers so far are saved.")
                    raise
                outcome = self._run(self.course.answer_quiz(
                    self.learner, quiz.lesson, question.id, index, new_event_id(), module.number,
                ))
            self.screen.quiz_outcome(outcome)
            correct += outcome.correct
        self.screen.quiz_summary(correct, total, quiz.lesson, module)

    def _ask_option(self, question: Question) -> int:
        """Read lines until one is an option number; a command, Ctrl-C or end of input leaves (LeaveFlow)."""
        count = len(question.options)
        while True:
            try:
                line = self.reader.read(f"answer 1-{count}> ")
            except KeyboardInterrupt:
                print()
                raise LeaveFlow("") from None
            if line is None or line.strip().startswith("/"):
                raise LeaveFlow(line)
            if not line.strip():
                continue
            try:
                index = choice(line, count)
            except CommandError as exc:
                self.screen.error(str(exc))
                continue
            if not self.reader.interactive:  # a typed answer is on screen already; a piped one is not
                self.screen.chosen(question.options[index])
            return index

    # -- the module test ------------------------------------------------------------------------------

    def _test(self, command: Command) -> None:
        module = self.course.module(command.module)
        step: TestStep | None = self._run(self.course.test_state(self.learner, module.number))
        if step is None:
            before = self._run(self.course.progress(self.learner, module.number))
            step = self._run(self.course.start_test(self.learner, module.number))
            if isinstance(step, TestState):
                self.screen.test_intro(module, step, before)
        else:
            self.screen.say()
            self.screen.say(f"Resuming your test at question {step.position}/{step.total}.", style="bold")
        while isinstance(step, TestState):
            question = step.next_question
            self.screen.question(question, f"Question {step.position}/{step.total}")
            try:
                index = self._ask_option(question)
            except LeaveFlow:
                self.screen.hint(f"Test paused at question {step.position}/{step.total}. Type /test to resume.")
                raise
            step = self._run(self.course.answer_test(
                self.learner, step.attempt.id, question.id, index, new_event_id(),
            ))
        self.screen.test_result(step)

    # -- labs -----------------------------------------------------------------------------------------

    def _lab(self, command: Command) -> None:
        assert command.number is not None
        module = self.course.module(command.module)
        lab = self.course.lab(command.number, module.number)
        if self.runtime.labs is None:
            self.screen.claude_missing()
            return
        thread_key = f"{self.learner.user_id}:module-{module.number}:lab-{lab.number}"
        thread = self._run(self.course.open_lab(self.learner, lab.number, PLATFORM, thread_key, module.number))
        progress = self._run(self.course.lab_progress(thread))
        self.lab_session = LabSession(lab, thread, progress)
        self.screen.lab_intro(lab, progress)

    def _back(self) -> None:
        if self.lab_session is None:
            self.screen.error("You are not in a lab. /lab N opens one.")
            return
        self.screen.hint(f"Left lab {self.lab_session.lab.number}. Type /lab {self.lab_session.lab.number} "
                         "to come back; your conversation is kept.")
        self.lab_session = None

    def _ask(self, session: LabSession, text: str) -> None:
        suggested = session.lab.suggested_questions
        picked = text.isascii() and text.isdigit()
        if picked:
            if not 1 <= int(text) <= len(suggested):
                raise CommandError(f"There are {len(suggested)} suggested questions: type 1 to {len(suggested)}, "
                                   "or write your own question.")
            text = suggested[int(text) - 1]
        if picked or not self.reader.interactive:  # the transcript shows what was asked
            self.screen.lab_question(text)
        self.screen.lab_answer_start(session.lab)
        session.progress, ticket = self._run(self._stream_answer(session, text))  # the footer: the lab's progress
        self.extras.answered(ticket)
        self.screen.say()

    async def _stream_answer(self, session: LabSession, question: str) -> tuple[LabProgress, Ticket]:
        """Stream one answer into the terminal; Ctrl-C stops it (the part already written is kept)."""
        labs = self.runtime.labs
        assert labs is not None
        if self.pacer is None:
            self.pacer = Pacer(TERMINAL_LIMITS)
        sink = TerminalSink()
        message = AnswerMessage(sink, self.pacer, cursor="")  # the notice and footer are shown below the answer
        stop = asyncio.Event()
        with stop_on_interrupt(stop), quiet_keyboard():
            ticket = await labs.admit(session.thread, question, event_id=new_event_id())
            assert ticket is not None  # a new event id is never a redelivery
            ticket.stop = stop
            try:
                outcome = await labs.answer(ticket, message)
            finally:
                message.close(sink)
                self.screen.answer_ending(message.notice, message.footer, after_text=bool(message.text))
        if message.notice == messages.UNAVAILABLE:
            self.screen.operator_hint(self.logs)
        return outcome.progress, ticket


def resume_command(progress: ModuleProgress, paused: TestState | None) -> str | None:
    """What a returning learner is offered: the paused test, else the lesson after the last one read.

    ``None`` for a new learner, and for one who has read every lesson and has no test to finish.
    """
    if paused is not None:
        return f"/test {progress.module.number}"
    module = progress.module
    if not (progress.lessons_viewed or any(progress.quiz_answered.values()) or progress.test_attempts
            or any(lab.answered for lab in progress.labs.values())):
        return None
    after = max(progress.lessons_viewed, default=0)
    unread = [n for n in module.lesson_numbers if n not in progress.lessons_viewed]
    following = next((n for n in module.lesson_numbers if n > after), unread[0] if unread else None)
    if following is not None:
        return f"/lesson {following} {module.number}"
    if module.test is not None and not progress.test_passed:
        return f"/test {module.number}"
    return None
