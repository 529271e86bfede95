"""The console's command language: what each line means, and which lines are refused with what advice."""

from __future__ import annotations

import pytest

from bot.console.commands import Command, CommandError, choice, parse


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/lesson 2", Command("lesson", 2)),
        ("  /LESSON   2  5 ", Command("lesson", 2, 5)),
        ("lesson 2", Command("lesson", 2)),
        ("/quiz 1", Command("quiz", 1)),
        ("/lab 3 5", Command("lab", 3, 5)),
        ("/test", Command("test")),
        ("/test 5", Command("test", None, 5)),
        ("progress", Command("progress")),
        ("/exit", Command("quit")),
        ("?", Command("help")),
        ("/back", Command("back")),
        ("/lesson 2 all", Command("lesson", 2, None, whole=True)),
        ("/lesson 2 5 ALL", Command("lesson", 2, 5, whole=True)),
        ("/next", Command("next")),
        ("n", Command("next")),
        ("/prev", Command("previous")),
        ("/sections", Command("sections")),
        ("/section 3", Command("section", 3)),
        ("", None),
        ("   ", None),
    ],
)
def test_lines_become_commands(line: str, expected: Command | None) -> None:
    assert parse(line) == expected


def test_in_a_lab_plain_text_is_a_question_not_a_command() -> None:
    assert parse("lesson 2 confuses me", bare_words=False) is None
    assert parse("/lesson 2", bare_words=False) == Command("lesson", 2)


@pytest.mark.parametrize(
    ("line", "advice"),
    [
        ("/dance", "I don't know the command '/dance'"),
        ("dance", "I don't know the command '/dance'"),
        ("/lesson", "Which one? Usage: /lesson N [module]"),
        ("/lesson two", "'two' is not a number"),
        ("/lesson -1", "'-1' is not a number"),
        ("/lesson ²", "'²' is not a number"),
        ("/lesson 1 2 3", "Too many words after /lesson"),
        ("/help me", "Too many words after /help"),
        ("/lesson all", "Which one? Usage: /lesson N [module] [all]"),
        ("/quiz 1 all", "'all' is not a number"),
        ("/section", "Which one? Usage: /section N"),
        ("/test x", "'x' is not a number. Usage: /test [module]"),
        ("2", "A number on its own is an answer"),
    ],
)
def test_bad_lines_are_refused_with_advice(line: str, advice: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse(line)
    assert advice in str(raised.value)


@pytest.mark.parametrize(("text", "index"), [("1", 0), (" 4 ", 3), ("2.", 1), ("b", 1), ("D", 3)])
def test_answers_pick_an_option(text: str, index: int) -> None:
    assert choice(text, 4) == index


@pytest.mark.parametrize("text", ["0", "5", "e", "one", "1 2", "", "²"])
def test_other_answers_are_refused(text: str) -> None:
    with pytest.raises(CommandError, match="Please type a number from 1 to 4"):
        choice(text, 4)
