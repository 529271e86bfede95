"""Slack text safety and Block Kit layout: escaping, Markdown to mrkdwn, limits on long content."""

from __future__ import annotations

import re

import pytest

from bot.core.content.model import KeyTerm, Lab, Lesson, Module, Option, Question, Quiz, Section
from bot.core.course import QuizOutcome
from bot.slack.blocks import paginate, sections
from bot.slack.labs import parent_blocks
from bot.slack.lessons import lesson_blocks
from bot.slack.mrkdwn import answer_markdown, escape, inline, plain, to_mrkdwn
from bot.slack.quizzes import feedback, quiz_blocks
from tests.emulators.slack import SlackError, validate_blocks


@pytest.mark.parametrize(
    ("hostile", "safe"),
    [
        ("<!channel> hi", "&lt;!channel&gt; hi"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://x.example|click>", "&lt;https://x.example|click&gt;"),
        ("a & b > c", "a &amp; b &gt; c"),
    ],
)
def test_escape_neutralises_control_sequences(hostile: str, safe: str) -> None:
    assert escape(hostile) == safe
    assert escape(hostile[:5]) + escape(hostile[5:]) == safe, "escaping pieces adds up to the whole"


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("[click](javascript:alert)", "click"),
    ("[img](data:text/html;base64,PHNjcmlwdD4=)", "img"),
    ("[mail me](mailto:a@example.com)", "mail me"),
    ("[paypal.com](https://evil.example/login)", "paypal.com (<https://evil.example/login>)"),
    ("[a|b](https://evil.example/<x>)", "a¦b"),  # would break out of <url|label>
    ("[python.org](https://docs.python.org/3/)", "<https://docs.python.org/3/|python.org>"),
])
def test_links_become_honest_slack_links(markdown: str, mrkdwn: str) -> None:
    assert inline(markdown) == mrkdwn


def test_answer_markdown_neutralises_links_and_escapes() -> None:
    """Model output for markdown_text: no javascript:/data: target, no disguised address, no <...> control."""
    answer = "Try [this](javascript:alert(1)), [paypal.com](https://evil.example) or <https://evil.example|docs>"
    assert answer_markdown(answer) == (
        "Try this, paypal.com (https://evil.example) or &lt;https://evil.example|docs&gt;"
    )


def test_inline_markdown_becomes_mrkdwn() -> None:
    assert inline("**bold** and *it* and `a<b`") == "*bold* and _it_ and `a&lt;b`"
    assert inline("[docs](https://docs.example/a?b=1&c=2)") == "<https://docs.example/a?b=1&amp;c=2|docs>"
    assert inline("[x](javascript:alert)") == "x", "only http(s) links are linked"
    assert inline("snake_case_name 2*3*4") == "snake_case_name 2*3*4"
    assert inline("<!here> **<@U1>**") == "&lt;!here&gt; *&lt;@U1&gt;*"


def test_document_conversion() -> None:
    markdown = (
        "A paragraph that was\nhard wrapped.\n\n## Heading\n\n- item one\n  continued\n- item two\n\n"
        "1. First `step`\n2. Second\n   step\n10) Tenth\n\n"
        "```python\nif a < b:\n    print('&')\n```\n\n| A | B |\n|---|---|\n| 1 | **two** |\n\n> quoted\n> text"
    )
    assert to_mrkdwn(markdown).split("\n") == [
        "A paragraph that was hard wrapped.", "", "*Heading*", "", "• item one continued", "• item two", "",
        "1. First `step`", "2. Second step", "10. Tenth", "",
        "```", "if a &lt; b:", "    print('&amp;')", "```", "",
        "```", "A | B", "--+----", "1 | two", "```", "", "> quoted text",
    ]


def test_a_table_too_wide_for_a_phone_becomes_a_line_per_row() -> None:
    markdown = (
        "| Header | Value | Why |\n|---|---|---|\n"
        "| `Content-Type` | text/event-stream | The browser's EventSource expects it to be <exactly> this |\n"
        "| Cache-Control | | No cache should hold or replay the stream, ever |"
    )
    assert to_mrkdwn(markdown).split("\n") == [
        "• *`Content-Type`* — _Value_: text/event-stream · _Why_: The browser's EventSource expects it to be"
        " &lt;exactly&gt; this",
        "• *Cache-Control* — _Why_: No cache should hold or replay the stream, ever",
    ]


def test_plain_text_is_cut_with_an_ellipsis() -> None:
    assert plain("a  b\nc", 10) == "a b c"
    assert plain("x" * 100, 75) == "x" * 74 + "…"


def test_long_text_is_split_into_legal_sections_with_code_reopened() -> None:
    code = "```\n" + "\n".join(f"line {i} = {i * 'x'}" for i in range(120)) + "\n```"
    parts = sections("Intro\n\n" + code)
    assert len(parts) > 1
    validate_blocks(parts)
    for part in parts:
        assert part["text"]["text"].count("```") % 2 == 0, "each section closes its code block"


def long_lesson(sections_count: int) -> tuple[Lesson, Module]:
    body = "\n\n".join(f"Paragraph {i}: " + "words " * 120 for i in range(6))
    lesson = Lesson(
        number=1, title="T" * 200, summary="A summary", opening_question="Why?",
        sections=tuple(Section(f"Part {i}", body) for i in range(sections_count)),
        key_terms=tuple(KeyTerm(f"term {i}", "definition " * 30) for i in range(12)),
    )
    question = Question("q1", "Which?", tuple(
        Option(i, "L" * 75, i == 0, "fb") for i in range(4)
    ), "because")
    quiz = Quiz(1, "Quiz", (question,))
    return lesson, Module(5, "Module", "summary", {1: lesson}, {1: quiz}, {}, None)


def test_a_long_lesson_is_paginated_within_every_limit() -> None:
    lesson, module = long_lesson(20)
    pages = paginate(lesson_blocks(lesson, module))
    assert len(pages) > 1
    for page in pages:
        assert len(page) <= 50
        validate_blocks(page)
    assert len(pages[0][0]["text"]["text"]) <= 150
    assert pages[-1][-1]["type"] == "actions", "the buttons come last"


def test_quiz_options_too_long_for_a_button_are_listed_in_full() -> None:
    _, module = long_lesson(1)
    blocks = quiz_blocks(module.quizzes[1], 5, 3)
    validate_blocks(blocks)
    [prompt] = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert prompt.split("\n") == ["*1.* Which?"] + [f"*{letter}.* {'L' * 75}" for letter in "ABCD"]
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["A", "B", "C", "D"]
    assert "Answered by 3 learners" in blocks[-1]["elements"][0]["text"]


def test_quiz_options_that_fit_are_read_on_their_buttons() -> None:
    question = Question("q1", "Pick **one**", (Option(0, "Yes", True, ""), Option(1, "No & never", False, "")))
    blocks = quiz_blocks(Quiz(2, "Quiz", (question,)), 5, 1)
    assert blocks[2]["text"]["text"] == "*1.* Pick *one*"
    assert [(e["text"]["text"], e["value"]) for e in blocks[3]["elements"]] == [
        ("A. Yes", "5:2:q1:0"), ("B. No & never", "5:2:q1:1")]


@pytest.mark.parametrize(
    ("correct", "option_feedback", "first_line"),
    [
        (True, "Correct. Well spotted.", "✅ You chose *A. Yes*."),
        (False, "", "❌ You chose *A. Yes*: not quite."),
    ],
)
def test_quiz_feedback_says_the_verdict_once(correct: bool, option_feedback: str, first_line: str) -> None:
    chosen = Option(0, "Yes", correct, option_feedback)
    question = Question("q1", "Pick", (chosen, Option(1, "No", not correct, "")), "Because <reasons>.")
    text = feedback(QuizOutcome(question=question, chosen=chosen, correct=correct, already_answered=False))
    assert text.split("\n") == [first_line, *([option_feedback] if option_feedback else []),
                                 "_Why:_ Because &lt;reasons&gt;."]


def test_lab_parent_message_reads_well_and_names_its_learner() -> None:
    lab = Lab(1, 1, "Concepts Lab", "Streaming Assistant", "TTFT & SSE.", "Hello **there**!",
              ("Why stream?",), "system prompt")
    blocks = parent_blocks(lab, 5, "alice")
    validate_blocks(blocks)
    text = [b["text"]["text"] if "text" in b else [e.get("text") for e in b["elements"]] for b in blocks]
    assert text[:3] == [
        "Lab 1: Concepts Lab",
        "*Streaming Assistant*: Hello *there*!",
        ["Topics: TTFT &amp; SSE.",
         "This is alice's lab. Reply in this thread to ask a question; 3 questions complete the lab (Module 5)."
         " Or pick one:"],
    ]
    assert blocks[3]["elements"][0]["text"]["text"] == "Why stream?"


def test_emulator_rejects_what_slack_rejects() -> None:
    """The validator the e2e tests rely on can fail."""
    with pytest.raises(SlackError, match="less than 3001"):
        validate_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    with pytest.raises(SlackError, match="no more than 50"):
        validate_blocks([{"type": "divider"}] * 51)
    with pytest.raises(SlackError, match=re.escape("less than 76")):
        validate_blocks([{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a"}]}])
