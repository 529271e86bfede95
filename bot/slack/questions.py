"""A multiple-choice question as Block Kit: the prompt, then one button per option (quizzes and the test).

Options are read on their buttons. When one would not fit a button (75 characters), every option is listed
in full under the prompt instead and the buttons carry only the letters, so nothing is cut off.
"""

from __future__ import annotations

from bot.core.content.model import Question
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.mrkdwn import inline


def question_blocks(question: Question, prompt_prefix: str, *, action_prefix: str, value_prefix: str,
                    block_id: str) -> list[Block]:
    """Sections with ``prompt_prefix`` + the prompt, and an actions block whose button for option ``i`` has
    action_id ``{action_prefix}{i}`` and value ``{value_prefix}{i}``."""
    labels = [f"{option.letter}. {option.label}" for option in question.options]
    fits = all(len(label) <= blocks.BUTTON_TEXT_MAX for label in labels)
    text = prompt_prefix + inline(question.prompt)
    if not fits:
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
