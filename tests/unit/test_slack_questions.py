"""Quiz and test options on Slack: on the buttons when they are plain and short, else listed in mrkdwn."""

from __future__ import annotations

from bot.core.content.model import Option, Question
from bot.slack.questions import question_blocks


def question(*labels: str) -> Question:
    options = tuple(Option(index=i, label=label, feedback="", correct=i == 0) for i, label in enumerate(labels))
    return Question(id="q1", prompt="Which helper yields only the text?", options=options, explanation="")


def render(found: Question) -> tuple[str, list[str]]:
    section, actions = question_blocks(found, "", action_prefix="a:", value_prefix="v:", block_id="b")
    return section["text"]["text"], [button["text"]["text"] for button in actions["elements"]]


def test_plain_short_options_are_read_on_their_buttons() -> None:
    text, buttons = render(question("Server-Sent Events", "WebSockets"))

    assert buttons == ["A. Server-Sent Events", "B. WebSockets"]
    assert text == "Which helper yields only the text?"


def test_an_option_with_inline_code_is_listed_as_code_and_no_button_shows_a_backtick() -> None:
    text, buttons = render(question("`stream.text_stream`", "Plain words", "`get_final_text()` after the end"))

    assert buttons == ["A", "B", "C"]
    assert "*A.* `stream.text_stream`\n*B.* Plain words\n*C.* `get_final_text()` after the end" in text


def test_an_option_too_long_for_a_button_is_listed_whole() -> None:
    long = "An option that explains itself in far more words than any Slack button could ever show"
    text, buttons = render(question(long, "Short"))

    assert buttons == ["A", "B"] and long in text
