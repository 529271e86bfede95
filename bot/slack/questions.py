"""A multiple-choice question as Block Kit: the prompt, then one button per option (quizzes and the test).

Options are read on their buttons. A button is plain text: it can neither show inline code as code nor
hold more than 75 characters. So when an option has Markdown (``stream.text_stream`` in backticks, bold...)
or would not fit, every option is listed under the prompt in mrkdwn instead, where code shows as code, and
the buttons carry only the letters: nothing is cut off and no backtick is left stray.
"""

from __future__ import annotations

from bot.core.content.model import Question
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.mrkdwn import escape, inline


def question_blocks(question: Question, prompt_prefix: str, *, action_prefix: str, value_prefix: str,
                    block_id: str) -> list[Block]:
    """Sections with ``prompt_prefix`` + the prompt, and an actions block whose button for option ``i`` has
    action_id ``{action_prefix}{i}`` and value ``{value_prefix}{i}``."""
    labels = [f"{option.letter}. {option.label}" for option in question.options]
    on_buttons = all(_plain(option.label) for option in question.options) and all(
        len(label) <= blocks.BUTTON_TEXT_MAX for label in labels
    )
    text = prompt_prefix + inline(question.prompt)
    if not on_buttons:
        text += "\n" + "\n".join(f"*{o.letter}.* {inline(o.label)}" for o in question.options)
        labels = [option.letter for option in question.options]
    return [
        *blocks.sections(text),
        blocks.actions(
            [
                blocks.button(label, f"{action_prefix}{option.index}", f"{value_prefix}{option.index}")
                for label, option in zip(labels, question.options, strict=True)
            ],
            block_id=block_id,
        ),
    ]


def _plain(label: str) -> bool:
    """True when ``label`` has no inline Markdown, so that a plain_text button shows it as written.

    mrkdwn keeps code spans in backticks (hence the test for one); it rewrites emphasis and links.
    """
    return "`" not in label and inline(label) == escape(label)
