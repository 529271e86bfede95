"""The console's command language: ``/lesson 2``, ``quiz 1``, ``/test 5``, ``/quit``...

Parsing is pure (no I/O) so that every rule is checked once, here: a line becomes a :class:`Command` or
raises :class:`CommandError` with a message fit to show the learner. The slash is optional in the course
(``lesson 2`` works) but required inside a lab, where plain text is a question for the assistant.
"""

from __future__ import annotations

from dataclasses import dataclass


class CommandError(Exception):
    """A line that is not a valid command; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    usage: str
    help: str
    takes_number: bool = False  # a required lesson/lab number
    takes_module: bool = False  # an optional module number (last)
    takes_all: bool = False  # an optional word "all" at the end
    takes_words: bool = False  # free words, checked by the command itself (/review remind on)


SPECS: tuple[Spec, ...] = (
    Spec("lesson", "/lesson N [module] [all]", "read lesson N a section at a time ('all': the whole lesson)",
         takes_number=True, takes_module=True, takes_all=True),
    Spec("next", "/next", "the lesson's next section (after the last: the next lesson)"),
    Spec("previous", "/previous", "the lesson's previous section"),
    Spec("sections", "/sections", "list the open lesson's sections"),
    Spec("section", "/section N", "go to section N of the open lesson", takes_number=True),
    Spec("quiz", "/quiz N [module]", "answer the quiz of lesson N", takes_number=True, takes_module=True),
    Spec("lab", "/lab N [module]", "ask lab N's Claude assistant (/back leaves the lab)", takes_number=True,
         takes_module=True),
    Spec("test", "/test [module]", "take the module test (resumes where you stopped)", takes_module=True),
    Spec("progress", "/progress [module]", "lessons, quizzes, labs and your best test score", takes_module=True),
    Spec("export", "/progress export", "write a file with everything coursebot stores about you"),
    Spec("review", "/review [remind on|off]", "go over the questions you missed, when they are due",
         takes_words=True),
    Spec("modules", "/modules", "list the course's modules"),
    Spec("source", "/source N", "print source N of the last lab answer (the lesson section it cites)",
         takes_number=True),
    Spec("feedback", "/feedback good|bad [reason]", "tell whether the last lab answer helped (bad may say why)",
         takes_words=True),
    Spec("back", "/back", "leave the lab you are in"),
    Spec("help", "/help", "show this list"),
    Spec("quit", "/quit", "leave coursebot (Ctrl-D works too)"),
)
_BY_NAME = {spec.name: spec for spec in SPECS}
_ALIASES = {
    "exit": "quit", "q": "quit", "?": "help", "h": "help", "lessons": "modules", "n": "next", "prev": "previous",
    "p": "previous",
}


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    number: int | None = None
    module: int | None = None
    whole: bool = False  # "/lesson 2 all": the whole lesson at once
    words: str = ""  # what follows a command that takes free words


def parse(line: str, *, bare_words: bool = True) -> Command | None:
    """The command on ``line``; ``None`` for a blank line, or for plain text when ``bare_words`` is off.

    Raises :class:`CommandError` for an unknown command or bad arguments.
    """
    words = line.split()
    if not words:
        return None
    head = words[0]
    if head.startswith("/"):
        head = head[1:]
    elif not bare_words:
        return None
    if head.isascii() and head.isdigit():
        raise CommandError("A number on its own is an answer, and no question is waiting. "
                           f"Did you mean /lesson {head} or /quiz {head}?")
    name = _ALIASES.get(head.lower(), head.lower())
    if name == "progress" and [word.lower() for word in words[1:]] == ["export"]:
        return Command("export")
    spec = _BY_NAME.get(name)
    if spec is None:
        shown = words[0] if words[0].startswith("/") else f"/{words[0]}"
        raise CommandError(f"I don't know the command {shown!r}. Type /help to see what you can do.")
    return _arguments(spec, words[1:])


def _arguments(spec: Spec, args: list[str]) -> Command:
    if spec.takes_words:
        return Command(spec.name, words=" ".join(args))
    whole = spec.takes_all and bool(args) and args[-1].lower() == "all"
    if whole:
        args = args[:-1]
    limit = int(spec.takes_number) + int(spec.takes_module)
    if len(args) > limit:
        raise CommandError(f"Too many words after /{spec.name}. Usage: {spec.usage}")
    if spec.takes_number and not args:
        raise CommandError(f"Which one? Usage: {spec.usage} (for example /{spec.name} 1)")
    numbers = [_number(arg, spec) for arg in args]
    if spec.takes_number:
        return Command(spec.name, numbers[0], numbers[1] if len(numbers) > 1 else None, whole)
    return Command(spec.name, None, numbers[0] if numbers else None)


def _number(text: str, spec: Spec) -> int:
    if not (text.isascii() and text.isdigit()):  # no signs, no "²"
        raise CommandError(f"{text!r} is not a number. Usage: {spec.usage}")
    return int(text)


def choice(text: str, count: int) -> int:
    """The 0-based option index for an answer typed as ``1``..``count`` (or a letter ``a``..).

    Raises :class:`CommandError` for anything else.
    """
    answer = text.strip().lower().rstrip(".)")
    if answer.isascii() and answer.isdigit() and 1 <= int(answer) <= count:
        return int(answer) - 1
    if len(answer) == 1 and "a" <= answer < chr(ord("a") + count):
        return ord(answer) - ord("a")
    raise CommandError(f"Please type a number from 1 to {count} (or a command such as /quit).")
