"""Accurate words on Slack: ``/lesson abc`` says what is wrong and which lessons there are; quiz options with
inline code are shown as code, and no button carries a stray backtick."""

from __future__ import annotations

import pytest

from bot.core.content.loader import load_course
from tests.e2e.slack_harness import ALICE, CHANNEL, CONTENT, SlackBot
from tests.emulators.slack import buttons

pytestmark = pytest.mark.e2e

COURSE = load_course(CONTENT)
MODULE = COURSE.modules[COURSE.default_module]


async def test_lesson_with_a_word_says_it_is_not_a_number_and_lists_the_lessons(slack_bot: SlackBot) -> None:
    status, _ = await slack_bot.slash("/lesson", "abc")
    assert status == 200

    note = (await slack_bot.wait_for(lambda: slack_bot.slack.ephemerals_for(ALICE)))[0]
    assert "abc" in note.shown and "is not a number" in note.shown
    lessons = ", ".join(map(str, MODULE.lesson_numbers))
    assert f"Lessons in Module {MODULE.number}: {lessons}." in note.shown
    assert slack_bot.slack.channel_messages(CHANNEL) == []  # nothing posted, nothing recorded


async def test_quiz_options_with_inline_code_show_as_code_and_buttons_have_no_backticks(slack_bot: SlackBot) -> None:
    lesson, question = next(
        (number, question) for number, quiz in MODULE.quizzes.items() for question in quiz.questions
        if any("`" in option.label for option in question.options)
    )
    await slack_bot.slash("/quiz", str(lesson))
    message = (await slack_bot.wait_for(lambda: slack_bot.slack.channel_messages(CHANNEL)))[0]

    shown = [button["text"]["text"] for button in buttons(message.blocks)]
    assert shown and not any("`" in text for text in shown)
    coded = next(option for option in question.options if "`" in option.label)
    texts = "\n".join(block["text"]["text"] for block in message.blocks if block.get("type") == "section")
    assert f"*{coded.letter}.* {coded.label}" in texts  # mrkdwn keeps the code span: Slack draws it as code
