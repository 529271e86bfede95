"""``/test [module]``: the module test, one question at a time, privately.

The test runs in one ephemeral message that each button press replaces through that press's own
``response_url`` (``replace_original``). Why this rather than a DM: it works in any channel the learner is
in without the ``im:write`` scope or opening a conversation, nobody else sees the questions or the score,
and every press brings a fresh ``response_url`` so Slack's five-uses-per-URL limit never binds. Ephemeral
messages do not survive a client reload, which is why all state is in the database: the attempt id and the
question id travel in each button's value, and ``/test`` shows the next unanswered question of an unfinished
attempt, also after the bot restarted.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.content.model import Module
from bot.core.course import TestResult, TestState, TestStep, button_number
from bot.slack import blocks, questions
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors, optional_module
from bot.slack.mrkdwn import escape, inline

USAGE = "`/test [module]`, e.g. `/test`"
START_ACTION = "test:start"
ANSWER_ACTION = re.compile(r"^test:answer:\d+$")


def intro_blocks(module: Module, best_percent: int | None, attempts: int) -> list[Block]:
    test = module.test
    assert test is not None  # CourseService.test_state raised NoTest otherwise
    lines = [f"{len(test.questions)} questions, one at a time. Pass mark: {round(test.pass_mark * 100)}%.",
             "Only you can see this test."]
    if best_percent is not None:
        lines.append(f"Your best so far: {best_percent}% ({attempts} attempt{'s' if attempts != 1 else ''}).")
    return [
        blocks.header(test.title or f"Module {module.number} test"),
        *blocks.sections(escape("\n".join(lines))),
        blocks.actions([blocks.button("Start the test", START_ACTION, str(module.number), style="primary")]),
    ]


def question_blocks(state: TestState, *, resumed: bool = False) -> list[Block]:
    question = state.next_question
    out = [blocks.header(f"Module {state.module.number} test: question {state.position} of {state.total}")]
    if resumed:
        out += blocks.context([f"Welcome back: {len(state.answers)} answered so far, picking up where you left off."])
    out += questions.question_blocks(question, "", action_prefix="test:answer:",
                                     value_prefix=f"{state.attempt.id}:{question.id}:",
                                     block_id=f"test:{state.attempt.id}:{question.id}")
    return out


def step_blocks(step: TestStep, *, resumed: bool = False) -> list[Block]:
    """The next question, or the result once the last one is answered."""
    return question_blocks(step, resumed=resumed) if isinstance(step, TestState) else result_blocks(step)


def result_blocks(result: TestResult) -> list[Block]:
    module = result.module
    verdict = "passed ✅" if result.passed else "not passed yet"
    out = [
        blocks.header(f"Module {module.number} test: {verdict}"),
        *blocks.sections(
            f"*Score: {result.score}/{result.total} ({result.percent}%)*. Pass mark: {result.pass_percent}%.\n"
            f"Best: {result.best_percent}% over {result.attempts} attempt{'s' if result.attempts != 1 else ''}."
        ),
    ]
    if result.missed:
        out += blocks.sections("*Review*: the questions you missed")
        for question, chosen in result.missed:
            right = question.correct_option
            text = (
                f"*{inline(question.prompt)}*\n"
                f"You chose: ❌ {chosen.letter}. {inline(chosen.label)}\n"
                f"Correct: ✅ {right.letter}. {inline(right.label)}"
            )
            if question.explanation:
                text += f"\n_{inline(question.explanation)}_"
            out += blocks.sections(text)
    else:
        out += blocks.sections("A perfect score: nothing to review. 🎉")
    out.append(blocks.actions([blocks.button("Take the test again", START_ACTION, str(module.number))]))
    return blocks.paginate(out)[0]


def register(app: AsyncApp, ctx: SlackContext) -> None:
    async def show(respond: Any, page: list[Block], *, replace: bool) -> None:
        await respond(text="Module test", blocks=page, response_type="ephemeral", replace_original=replace)

    @app.command("/test")
    @friendly_errors
    async def test_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        module = optional_module(command.get("text", ""), USAGE)
        learner = ctx.command_learner(context, command)
        state = await ctx.course.test_state(learner, module)
        if state is not None:
            await show(respond, question_blocks(state, resumed=state.resumed), replace=False)
            return
        progress = await ctx.course.progress(learner, module)
        page = intro_blocks(progress.module, progress.best_test_percent, progress.test_attempts)
        await show(respond, page, replace=False)

    @app.action(START_ACTION)
    @friendly_errors
    async def start(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        learner = ctx.action_learner(context, body)
        step = await ctx.course.start_test(learner, button_number(action["value"]))
        await show(respond, step_blocks(step, resumed=isinstance(step, TestState) and step.resumed), replace=True)

    @app.action(ANSWER_ACTION)
    @friendly_errors
    async def answer(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        attempt_text, _, rest = action["value"].partition(":")
        question_id, _, option_text = rest.rpartition(":")
        learner = ctx.action_learner(context, body)
        event_id = f"{action['action_ts']}:{learner.user_id}"
        step = await ctx.course.answer_test(
            learner, button_number(attempt_text), question_id, button_number(option_text), event_id
        )
        await show(respond, step_blocks(step), replace=True)
