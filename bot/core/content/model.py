"""The course as typed, immutable data. Built by ``loader.py``; read by everything else.

Layout on disk (one folder per module, see README "Authoring content")::

    content/course.yaml           title, default_module
    content/<module folder>/module.yaml   number, title, summary
                           lesson-<N>.md  front matter + Markdown body ("## " starts a section)
                           quiz-<N>.yaml  3 questions for lesson N
                           lab-<N>.yaml   lab N: its assistant, and the lesson it practises
                           test.yaml      the module test
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Button label limits: the strictest platform decides what content may contain.
DISCORD_LABEL_MAX = 80
SLACK_LABEL_MAX = 75
OPTION_LETTERS = "ABCDE"


@dataclass(frozen=True, slots=True)
class Option:
    """One answer option. Its identity is its position (0-based ``index``, shown as a letter)."""

    index: int
    label: str
    correct: bool
    feedback: str

    @property
    def letter(self) -> str:
        return OPTION_LETTERS[self.index]


@dataclass(frozen=True, slots=True)
class Question:
    """A multiple-choice question with exactly one correct option."""

    id: str
    prompt: str
    options: tuple[Option, ...]
    explanation: str = ""

    @property
    def correct_option(self) -> Option:
        return next(option for option in self.options if option.correct)

    def option(self, index: int) -> Option:
        """The option at ``index``; raises ``IndexError`` for a bad index."""
        if not 0 <= index < len(self.options):
            raise IndexError(f"question {self.id} has no option {index}")
        return self.options[index]


@dataclass(frozen=True, slots=True)
class KeyTerm:
    term: str
    definition: str


@dataclass(frozen=True, slots=True)
class Section:
    """A ``## heading`` of a lesson and the Markdown under it."""

    heading: str
    markdown: str


@dataclass(frozen=True, slots=True)
class Lesson:
    number: int
    title: str
    summary: str
    opening_question: str
    sections: tuple[Section, ...]
    key_terms: tuple[KeyTerm, ...]

    @property
    def text(self) -> str:
        """The lesson as one Markdown document (used to ground a lab assistant)."""
        parts = [f"# {self.title}", self.summary, f"**{self.opening_question}**"]
        parts += [f"## {s.heading}\n\n{s.markdown}" for s in self.sections]
        if self.key_terms:
            parts.append("## Key terms\n\n" + "\n".join(f"- **{k.term}**: {k.definition}" for k in self.key_terms))
        return "\n\n".join(p for p in parts if p)


class _Questions:
    """What quizzes and the module test share: questions looked up by id."""

    __slots__ = ()
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        """The question with this id; raises ``KeyError`` when there is none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)


@dataclass(frozen=True, slots=True)
class Quiz(_Questions):
    lesson: int
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Lab:
    number: int
    lesson: int
    title: str
    assistant_name: str
    specialty: str
    greeting: str
    suggested_questions: tuple[str, ...]
    system_prompt: str
    questions_to_complete: int = 3


@dataclass(frozen=True, slots=True)
class ModuleTest(_Questions):
    title: str
    questions: tuple[Question, ...]
    pass_mark: float = 0.8


@dataclass(frozen=True, slots=True)
class Module:
    number: int
    title: str
    summary: str
    lessons: dict[int, Lesson]
    quizzes: dict[int, Quiz]
    labs: dict[int, Lab]
    test: ModuleTest | None
    folder: str = ""

    @property
    def lesson_numbers(self) -> list[int]:
        return sorted(self.lessons)

    @property
    def lab_numbers(self) -> list[int]:
        return sorted(self.labs)


@dataclass(frozen=True, slots=True)
class Rules:
    """Counts every module must meet (``rules:`` in course.yaml; these are the defaults)."""

    quiz_questions: int = 3
    test_questions: int = 15
    min_suggested_questions: int = 2


@dataclass(frozen=True, slots=True)
class Course:
    title: str
    default_module: int
    modules: dict[int, Module] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)
    warnings: tuple[str, ...] = ()  # ``path:line: warning: ...`` lines: valid content worth a second look

    @property
    def module_numbers(self) -> list[int]:
        return sorted(self.modules)
