"""``/quiz N [module]``: a quiz anyone in the channel can answer, each learner privately.

The quiz is one channel message: a section and a row of option buttons per question, and a line with how
many learners answered. A click is recorded once per learner and question (the first answer counts; the
event id is the action's ``action_ts`` with the user, so a redelivered click is not a second answer) and
answered with an ephemeral message. The answered count is refreshed with ``chat.update`` through the shared
pacer: clicks that arrive while a refresh waits for its slot are folded into it.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.coalescer import Coalescer
from bot.core.content.model import Quiz
from bot.core.course import QuizOutcome, button_number
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors, number_and_module
from bot.slack.mrkdwn import escape, inline
from bot.slack.questions import question_blocks

USAGE = "`/quiz <lesson number> [module]`, e.g. `/quiz 1`"
ANSWER_ACTION = re.compile(r"^quiz:answer:\d+$")
COUNT_EDIT_SECONDS = 2.0  # the least time between two updates of a quiz message's answered count


def quiz_blocks(quiz: Quiz, module: int, respondents: int) -> list[Block]:
    out = [blocks.header(f"Quiz: {quiz.title}")]
    out += blocks.context([f"Lesson {quiz.lesson} · Module {module} · your answers are only shown to you"])
    for number, question in enumerate(quiz.questions, start=1):
        out += question_blocks(question, f"*{number}.* ", action_prefix="quiz:answer:",
                               value_prefix=f"{module}:{quiz.lesson}:{question.id}:",
                               block_id=f"quiz:{module}:{quiz.lesson}:{question.id}")
    learners = "learner" if respondents == 1 else "learners"
    out += blocks.context([f"✍️ Answered by {respondents} {learners}"])
    return out


def feedback(outcome: QuizOutcome) -> str:
    """The learner's private answer: what they chose, right or wrong, the option's feedback, the explanation.

    The verdict word is left to the option's own feedback when it has one (it starts "Correct", "Not quite").
    """
    chosen = f"*{outcome.chosen.letter}. {inline(outcome.chosen.label)}*"
    mark = "✅" if outcome.correct else "❌"
    if outcome.already_answered:
        verdict = "correct" if outcome.correct else "not correct"
        lines = [f"{mark} You already answered this question; your first answer counts: {chosen} ({verdict})."]
    elif outcome.chosen.feedback:
        lines = [f"{mark} You chose {chosen}."]
    else:
        lines = [f"{mark} You chose {chosen}: {'correct!' if outcome.correct else 'not quite.'}"]
    if outcome.chosen.feedback:
        lines.append(inline(outcome.chosen.feedback))
    if outcome.question.explanation:
        lines.append(f"_Why:_ {inline(outcome.question.explanation)}")
    return "\n".join(lines)


async def post_quiz(ctx: SlackContext, channel: str, lesson: int, module: int | None = None) -> None:
    quiz = ctx.course.quiz(lesson, module)
    number = ctx.course.module(module).number
    respondents = await ctx.course.quiz_respondents(lesson, number)
    await ctx.post(channel, text=escape(f"Quiz: {quiz.title}"), blocks=quiz_blocks(quiz, number, respondents))


def register(app: AsyncApp, ctx: SlackContext) -> None:
    counts = Coalescer(COUNT_EDIT_SECONDS)

    def refresh_count(team_id: str, channel: str, ts: str, module: int, lesson: int) -> None:
        """Bring the quiz message's answered count up to date (coalesced; ``chat.update`` is per workspace)."""
        async def update() -> None:
            quiz = ctx.course.quiz(lesson, module)
            respondents = await ctx.course.quiz_respondents(lesson, module)
            await ctx.pacing.stream.acquire(team_id, kind="edit")
            await ctx.client.chat_update(channel=channel, ts=ts, text=escape(f"Quiz: {quiz.title}"),
                                         blocks=quiz_blocks(quiz, module, respondents))

        counts.request((channel, ts), update)

    @app.command("/quiz")
    @friendly_errors
    async def quiz_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        lesson, module = number_and_module(command.get("text", ""), USAGE)
        await post_quiz(ctx, command["channel_id"], lesson, module)

    @app.action(ANSWER_ACTION)
    @friendly_errors
    async def answer(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        module_text, lesson_text, rest = action["value"].split(":", 2)
        question_id, option_text = rest.rsplit(":", 1)
        module, lesson = button_number(module_text), button_number(lesson_text)
        learner = ctx.action_learner(context, body)
        outcome = await ctx.course.answer_quiz(
            learner, lesson, question_id, button_number(option_text), f"{action['action_ts']}:{learner.user_id}", module
        )
        await respond(text=feedback(outcome), response_type="ephemeral", replace_original=False)
        container = body.get("container", {})
        if not outcome.already_answered and not container.get("is_ephemeral") and container.get("message_ts"):
            refresh_count(context.team_id, container["channel_id"], container["message_ts"], module, lesson)
