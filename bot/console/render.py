"""How the console shows the course: rich panels, Markdown and tables on a terminal, plain text when piped.

One :class:`Screen` writes everything the learner sees. On a terminal (``rich=True``) lessons are panels,
highlighted code and tables; when stdout is piped the same information is printed as plain text with no escape
codes and no box drawing, and lesson sections as their Markdown source (code stays copyable, tables stay
pipe tables), so that transcripts are readable and scriptable. Inline Markdown in quiz and test texts (code
spans, emphasis) is drawn styled on a terminal, never as stray backticks; a pipe keeps it as written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.console.commands import Spec
from bot.console.markdown_view import TerminalMarkdown, inline
from bot.core.citations import SectionText
from bot.core.content.model import Course, Lab, Lesson, Module, Option, Question
from bot.core.course import LabProgress, ModuleProgress, QuizOutcome, TestResult, TestState

BAR_WIDTH = 20
PLAIN_WIDTH = 1000  # piped output is never wrapped (tables included): the reader's viewer wraps it


class Screen:
    """Everything the console prints goes through here."""

    def __init__(self, console: Console, *, rich: bool) -> None:
        self.console = console
        self.rich = rich

    @classmethod
    def for_stdout(cls) -> Screen:
        """Rich output when stdout is a terminal; plain text when it is piped."""
        return cls.on(sys.stdout, terminal=sys.stdout.isatty())

    @classmethod
    def on(cls, file: TextIO, *, terminal: bool, width: int | None = None) -> Screen:
        """A screen writing to ``file``: rich on a terminal, else plain text (no ANSI codes, no wrapping).

        Markup is off: course text such as ``list[str]`` is printed as written, never read as a style tag.
        """
        if terminal:
            return cls(Console(file=file, force_terminal=True, highlight=False, markup=False, width=width), rich=True)
        plain = Console(
            file=file, force_terminal=False, no_color=True, color_system=None, highlight=False, markup=False,
            emoji=False, soft_wrap=True, force_jupyter=False, width=PLAIN_WIDTH,
        )
        return cls(plain, rich=False)

    # -- small messages -----------------------------------------------------------------------------

    def say(self, text: str | Text = "", style: str = "", *, indent: int = 0) -> None:
        """One line (or paragraph) of text; ``text`` is never parsed as markup.

        ``indent`` holds for every wrapped line on a terminal (piped output is never wrapped).
        """
        line = text if isinstance(text, Text) else Text(text, style=style)
        if not indent:
            self.console.print(line)
        elif self.rich:
            self.console.print(Padding(line, (0, 0, 0, indent)))
        else:
            self.console.print(Text(" " * indent) + line)

    def error(self, text: str) -> None:
        self.say(Text.assemble(("✗ ", "bold red"), text))

    def hint(self, text: str) -> None:
        self.say(text, style="dim")

    def welcome(
        self, course: Course, progress: ModuleProgress, learner: str, *, paused_test: TestState | None,
        offer: str | None,
    ) -> None:
        """The first screen; a returning learner (``offer`` set) is told where they are and what Enter resumes."""
        module = progress.module
        title = f"{course.title} · Module {module.number}: {module.title}"
        if offer is None and not progress.lessons_viewed:
            first = module.lesson_numbers[0] if module.lessons else 1
            body = Text.assemble(
                (f"Welcome, {learner}! ", "bold"), module.summary, "\n\n",
                (f"Start with /lesson {first}, or type /help to see every command.", "dim"),
            )
            self._panel(title, body)
            return
        read = sorted(progress.lessons_viewed)
        lines = [f"You have read {len(read)} of the {len(module.lessons)} lessons"
                 + (f" (the last one: lesson {read[-1]}, {module.lessons[read[-1]].title})." if read else ".")]
        if paused_test is not None:
            lines.append(f"Your module test is paused at question {paused_test.position}/{paused_test.total}.")
        elif progress.best_test_percent is not None:
            status = "passed" if progress.test_passed else "not passed yet"
            lines.append(f"Your best test score: {progress.best_test_percent}% ({status}).")
        if offer is not None:
            lines.append(f"Press Enter to resume with {offer}{self._offer_title(module, offer)}, or type a command.")
        else:
            lines.append("Type /progress for the details, or /help to see every command.")
        body = Text.assemble((f"Welcome back, {learner}! ", "bold"), "\n".join(lines))
        self._panel(title, body)

    @staticmethod
    def _offer_title(module: Module, offer: str) -> str:
        words = offer.split()
        if words[0] == "/lesson" and int(words[1]) in module.lessons:
            return f" ({module.lessons[int(words[1])].title})"
        return " (the module test)" if words[0] == "/test" else ""

    def help(self, specs: Sequence[Spec], *, in_lab: bool) -> None:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for spec in specs:
            table.add_row(spec.usage, spec.help)
        self._heading("Commands")
        self._table(table)
        note = ("In a lab, type a question (or the number of a suggested one); commands still work."
                if in_lab else "The slash is optional: 'lesson 2' works too.")
        self.hint(note)

    def modules(self, course: Course, current: int) -> None:
        table = Table(box=None, padding=(0, 2, 0, 1), header_style="bold")
        for column in ("", "Module", "Lessons", "Labs", "Test"):
            table.add_column(column)
        for number in course.module_numbers:
            module = course.modules[number]
            table.add_row(
                "▶" if number == current else "",
                f"{number}: {module.title}",
                str(len(module.lessons)),
                str(len(module.labs)),
                f"{len(module.test.questions)} questions" if module.test else "none",
            )
        self._heading(course.title)
        self._table(table)
        self.hint(f"A module number after a command picks the module, e.g. /lesson 1 {current}.")

    # -- lessons --------------------------------------------------------------------------------------

    def lesson(self, module: Module, lesson: Lesson) -> None:
        """The whole lesson at once (``/lesson N all``, and always in a pipe)."""
        if self.rich:
            self.lesson_opening(module, lesson)
            for section in lesson.sections:
                if section.heading:
                    self.console.print()
                    self.console.rule(Text(section.heading, style="bold cyan"), align="left", style="cyan")
                self.console.print(TerminalMarkdown(section.markdown))
            self.console.print()
        else:
            title = f"Module {module.number} · Lesson {lesson.number}: {lesson.title}"
            self._heading(title)
            self.say(lesson.summary)
            self.say()
            self.say(f"Think about it: {lesson.opening_question}")
            for section in lesson.sections:
                self.say()
                if section.heading:
                    self.say(f"## {section.heading}")
                    self.say()
                self.say(section.markdown.strip())
            self.say()
        self._lesson_end(module, lesson)

    def lesson_opening(self, module: Module, lesson: Lesson) -> None:
        """The lesson's title panel: summary and the question to think about."""
        title = f"Module {module.number} · Lesson {lesson.number}: {lesson.title}"
        opening = Text.assemble(("Think about it: ", "bold yellow"), (lesson.opening_question, "italic"))
        self._panel(title, Group(Text(lesson.summary), Text(), opening))

    def lesson_section(self, module: Module, lesson: Lesson, index: int) -> None:
        """Section ``index`` (0-based) of the lesson, and how to move on; the last one ends the lesson."""
        count = len(lesson.sections)
        section = lesson.sections[index]
        self.say()
        label = Text.assemble((f"Lesson {lesson.number} · {index + 1}/{count} ", "dim"),
                              (_section_title(section.heading), "bold cyan"))
        if self.rich:
            self.console.rule(label, align="left", style="cyan")
            self.console.print(TerminalMarkdown(section.markdown))
        else:
            self.say(label)
            self.say(section.markdown.strip())
        self.say()
        if index + 1 == count:
            self._lesson_end(module, lesson)
        moves = [f"/next: {_section_title(lesson.sections[index + 1].heading)}"] if index + 1 < count else []
        moves += ["/previous"] if index else []
        moves += ["/sections", f"/lesson {lesson.number} all: the whole lesson"]
        self.hint(" · ".join(moves))

    def sections(self, lesson: Lesson, current: int) -> None:
        self._heading(f"Lesson {lesson.number}: {lesson.title}")
        for index, section in enumerate(lesson.sections):
            mark = "▶ " if index == current else "  "
            self.say(Text.assemble(mark, (f"{index + 1}) ", "cyan"), _section_title(section.heading)))
        self.hint("/section N goes to one.")

    def _lesson_end(self, module: Module, lesson: Lesson) -> None:
        if lesson.key_terms:
            self._key_terms(lesson)
        nexts = [f"/quiz {lesson.number}"] if lesson.number in module.quizzes else []
        nexts += [f"/lab {lab.number}" for lab in module.labs.values() if lab.lesson == lesson.number]
        if nexts:
            self.hint("Next: " + " · ".join(nexts))

    def _key_terms(self, lesson: Lesson) -> None:
        if not self.rich:
            self.say("Key terms")
            for term in lesson.key_terms:
                self.say(f"- {term.term}: {term.definition}")
            return
        table = Table(title="Key terms", title_style="bold", box=box.ROUNDED, show_lines=True, expand=True)
        table.add_column("Term", style="bold cyan", ratio=1, overflow="fold")  # wraps on a narrow terminal
        table.add_column("Definition", ratio=2)
        for term in lesson.key_terms:
            table.add_row(term.term, term.definition)
        self._table(table)

    # -- quizzes and the test ---------------------------------------------------------------------------

    def question(self, question: Question, label: str) -> None:
        """A question with its options numbered from 1 (``label``: "Question 2/3")."""
        self.say()
        self.say(label, style="bold magenta")
        self.say(self._inline(question.prompt, "bold"))
        for option in question.options:
            self.say(Text.assemble((f"{option.index + 1}) ", "cyan"), self._inline(option.label)), indent=2)

    def chosen(self, option: Option) -> None:
        """Echo an answer read from a pipe, so the transcript shows what was chosen."""
        self.say(Text.assemble(("Your answer: ", "bold"), self._option(option)), indent=2)

    def quiz_outcome(self, outcome: QuizOutcome) -> None:
        if outcome.already_answered:
            self.say(Text.assemble(
                ("You answered this one already (your first answer counts): ", "dim"), self._option(outcome.chosen),
            ))
        self._verdict(outcome.correct, outcome.chosen.feedback)
        if not outcome.correct:
            self.say(Text.assemble(("The answer: ", "bold"), self._option(outcome.question.correct_option)), indent=2)
        if outcome.question.explanation:
            self.say(self._inline(outcome.question.explanation, "dim"), indent=2)

    def _verdict(self, correct: bool, feedback: str) -> None:
        # The mark carries the verdict: feedback usually opens with its own "Correct." / "Not quite."
        mark = ("✓ ", "bold green") if correct else ("✗ ", "bold red")
        self.say(Text.assemble(mark, self._inline(feedback)))

    def quiz_summary(self, correct: int, total: int, lesson: int, module: Module) -> None:
        self.say()
        self.say(Text.assemble(("Quiz score: ", "bold"), f"{correct}/{total} correct"))
        labs = [f"/lab {lab.number}" for lab in module.labs.values() if lab.lesson == lesson]
        following = lesson + 1 if lesson + 1 in module.lessons else None
        nexts = labs + ([f"/lesson {following}"] if following else ["/test"])
        self.hint("Next: " + " · ".join(nexts))

    def test_intro(self, module: Module, first: TestState, before: ModuleProgress) -> None:
        """The start of a new attempt (``first``: its first question); a retake names the best score so far."""
        assert module.test is not None
        self.say()
        self.say(module.test.title, style="bold")
        self.say(f"{first.total} questions, one at a time. You pass with {first.pass_percent}% or more.")
        if before.test_attempts:
            status = "passed" if before.test_passed else "not passed yet"
            self.say(f"This is attempt {before.test_attempts + 1}. Your best so far: {before.best_test_percent}% "
                     f"({status}); the best score is the one kept.")
        self.hint("Type the number of your answer. A command pauses the test; /test resumes it.")

    def test_result(self, result: TestResult) -> None:
        verdict = ("Passed! 🎉", "bold green") if result.passed else ("Not passed yet.", "bold red")
        self.say()
        self.say(Text.assemble(
            ("Score: ", "bold"), f"{result.score}/{result.total} ({result.percent}%) ", verdict,
            (f"  Pass mark: {result.pass_percent}%.", "dim"),
        ))
        self.say(f"Best score: {result.best_percent}% over {result.attempts} attempt"
                 f"{'' if result.attempts == 1 else 's'}.")
        if result.missed:
            self.say()
            self.say("Review of the questions you missed:", style="bold")
            for question, chosen in result.missed:  # in the order this attempt asked them, options as shown
                self.say()
                self.say(Text.assemble(("✗ ", "bold red"), self._inline(question.prompt, "bold")))
                self.say(Text.assemble(("You chose: ", "red"), self._option(chosen)), indent=2)
                self.say(Text.assemble(("Correct:   ", "green"), self._option(question.correct_option)), indent=2)
                self.say(self._inline(chosen.feedback), indent=2)  # why the chosen option is wrong
                if question.explanation:
                    self.say(self._inline(question.explanation, "dim"), indent=2)
        if not result.passed:
            self.hint("Review the lessons and type /test to try again.")

    # -- progress -------------------------------------------------------------------------------------

    def progress(self, progress: ModuleProgress, *, paused_test: TestState | None = None) -> None:
        """The learner's progress in one module (``paused_test``: an unfinished test attempt)."""
        module = progress.module
        lessons = module.lesson_numbers
        quiz_total = sum(len(quiz.questions) for quiz in module.quizzes.values())
        quiz_correct = sum(progress.quiz_correct.values())
        labs_done = sum(1 for lab in progress.labs.values() if lab.complete)
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 1))
        table.add_column(style="bold")
        table.add_column(no_wrap=True)
        table.add_column()
        read = sorted(progress.lessons_viewed)
        table.add_row("Lessons", self._bar(len(read), len(lessons)),
                      f"{len(read)}/{len(lessons)} read" + (f" ({', '.join(map(str, read))})" if read else ""))
        per_quiz = ", ".join(
            f"L{n} {progress.quiz_correct.get(n, 0)}/{len(module.quizzes[n].questions)}"
            for n in sorted(module.quizzes) if progress.quiz_answered.get(n)
        )
        table.add_row("Quizzes", self._bar(quiz_correct, quiz_total),
                      f"{quiz_correct}/{quiz_total} correct" + (f" ({per_quiz})" if per_quiz else ""))
        lab_notes = ", ".join(
            f"lab {n} {'✓' if lab.complete else f'{lab.asked}/{lab.lab.questions_to_complete}'}"
            for n, lab in sorted(progress.labs.items()) if lab.asked
        )
        table.add_row("Labs", self._bar(labs_done, len(module.labs)),
                      f"{labs_done}/{len(module.labs)} complete" + (f" ({lab_notes})" if lab_notes else ""))
        if module.test is not None:
            best = progress.best_test_percent
            notes: list[str] = []
            if best is not None:
                status = "passed ✓" if progress.test_passed else "not passed yet"
                tries = f"{progress.test_attempts} attempt{'' if progress.test_attempts == 1 else 's'}"
                notes.append(f"best {best}% · {status} · {tries}")
            if paused_test is not None:
                notes.append(f"paused at {paused_test.position}/{paused_test.total}: /test resumes")
            test_note = " · ".join(notes) or "not taken yet"
            table.add_row("Test", self._bar(best or 0, 100), test_note)
        self._heading(f"Your progress · Module {module.number}: {module.title}")
        self._table(table)

    def _bar(self, done: int, total: int) -> Text:
        filled = round(BAR_WIDTH * done / total) if total else 0
        filled = min(BAR_WIDTH, max(filled, 1 if done else 0))
        return Text.assemble(("█" * filled, "green"), ("░" * (BAR_WIDTH - filled), "dim"))

    # -- labs -----------------------------------------------------------------------------------------

    def lab_intro(self, lab: Lab, progress: LabProgress) -> None:
        title = f"Lab {lab.number}: {lab.title} · {lab.assistant_name}"
        body = Text.assemble(lab.greeting, "\n\n", (lab.specialty, "dim"))
        self._panel(title, body, style="green")
        self.say("Suggested questions (type the number to ask one):", style="bold")
        for number, question in enumerate(lab.suggested_questions, start=1):
            self.say(Text.assemble((f"{number}) ", "cyan"), question), indent=2)
        self.lab_progress(progress)
        self.hint("Type your question and press Enter. /back returns to the course; Ctrl-C stops an answer.")

    def source_section(self, section: SectionText) -> None:
        """A lesson section opened from an answer's sources (``/source N``), drawn as the lesson draws it."""
        self.say()
        if self.rich:
            self.console.rule(Text(section.title, style="bold cyan"), align="left", style="cyan")
            self.console.print(TerminalMarkdown(section.markdown))
        else:
            self.say(section.title)
            self.say(section.markdown.strip())

    def lab_question(self, question: str) -> None:
        """Echo a question that is not on screen as typed: picked by number, or read from a pipe."""
        self.say(Text.assemble(("You: ", "bold cyan"), question))

    def lab_answer_start(self, lab: Lab) -> None:
        self.say(Text(f"{lab.assistant_name}:", style="bold green"))

    def answer_ending(self, notice: str, footer: str, *, after_text: bool) -> None:
        """What the assistant says under an answer: the notice (stopped, cut off...), then the dim footer.

        ``after_text``: the answer has text above; without, the notice comes right under the assistant's name.
        """
        if notice:
            if after_text:
                self.say()
            self.say(self._inline(notice))
        if footer:
            self.say()
            self.say(self._inline(footer, "dim"))

    def operator_hint(self, logs: Path) -> None:
        """In a console the learner is the operator: say where the reason is and what to check."""
        self.hint(f"You are this bot's operator here: the reason is logged in {logs}. Check ANTHROPIC_API_KEY "
                  "and COURSEBOT_MODEL, then start coursebot again.")

    def lab_progress(self, progress: LabProgress) -> None:
        needed = progress.lab.questions_to_complete
        self.say(Text.assemble(("Questions asked: ", "bold"), f"{progress.asked}/{needed}"))
        if progress.complete:
            self.say(Text.assemble(("✓ Lab complete. ", "bold green"), "Keep asking if you like."))

    def claude_missing(self) -> None:
        self.error("The lab assistants need an Anthropic API key, and ANTHROPIC_API_KEY is not set.")
        for line in (
            "Create a key at https://console.anthropic.com/ and then either:",
            "  export ANTHROPIC_API_KEY=sk-ant-...   (in this shell), or",
            "  add the line ANTHROPIC_API_KEY=sk-ant-... to the .env file in this folder,",
            "and start coursebot again. Lessons, quizzes and the test work without it.",
        ):
            self.say(line)

    # -- helpers ------------------------------------------------------------------------------------

    def _inline(self, markdown: str, style: str = "") -> Text:
        """Inline Markdown drawn on a terminal; as written in a pipe."""
        return inline(markdown, style) if self.rich else Text(markdown, style=style)

    def _option(self, option: Option) -> Text:
        return Text.assemble(f"{option.index + 1}) ", self._inline(option.label))

    def _heading(self, title: str) -> None:
        self.say()
        if self.rich:
            self.say(title, style="bold underline")
        else:
            self.say(title)
            self.say("=" * len(title))

    def _table(self, table: Table) -> None:
        if self.rich:
            self.console.print(table)
            return
        with self.console.capture() as captured:  # cells are padded to the column width: trim the line ends
            self.console.print(table)
        self.console.out("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def _panel(self, title: str, body: Text | Group, *, style: str = "cyan") -> None:
        if self.rich and Text(title).cell_len + 6 > self.console.width:  # a border title would be cut
            self.console.print(Panel(Group(Text(title, style="bold"), Text(), body), border_style=style,
                                     padding=(1, 2)))
        elif self.rich:
            self.console.print(Panel(body, title=Text(title, style="bold"), title_align="left",
                                     border_style=style, padding=(1, 2)))
        else:
            self._heading(title)
            self.console.print(body)


def _section_title(heading: str) -> str:
    return heading or "Introduction"

