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
from bot.core.course import TestResult, TestState
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
    assert question is not None  # callers show the result instead once every question is answered
    out = [blocks.header(f"Module {state.module.number} test: question {state.position} of {state.total}")]
    if resumed:
        out += blocks.context([f"Welcome back: {len(state.answers)} answered so far, picking up where you left off."])
    out += questions.question_blocks(question, "", action_prefix="test:answer:",
                                     value_prefix=f"{state.attempt.id}:{question.id}:",
                                     block_id=f"test:{state.attempt.id}:{question.id}")
    return out


def result_blocks(result: TestResult, module: Module) -> list[Block]:
    verdict = "passed ✅" if result.passed else "not passed yet"
    pass_mark = round(module.test.pass_mark * 100) if module.test else 80
    out = [
        blocks.header(f"Module {module.number} test: {verdict}"),
        *blocks.sections(
            f"*Score: {result.score}/{result.total} ({result.percent}%)*. Pass mark: {pass_mark}%.\n"
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
        if state is not None and not state.finished:
            await show(respond, question_blocks(state, resumed=bool(state.answers)), replace=False)
            return
        if state is not None:  # every question answered but not graded (the bot stopped in between)
            result = await ctx.course.finish_test(learner, state.attempt.id)
            await show(respond, result_blocks(result, state.module), replace=False)
            return
        progress = await ctx.course.progress(learner, module)
        page = intro_blocks(progress.module, progress.best_test_percent, progress.test_attempts)
        await show(respond, page, replace=False)

    @app.action(START_ACTION)
    @friendly_errors
    async def start(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        learner = ctx.action_learner(context, body)
        state = await ctx.course.start_test(learner, int(action["value"]))
        if state.finished:
            result = await ctx.course.finish_test(learner, state.attempt.id)
            await show(respond, result_blocks(result, state.module), replace=True)
        else:
            await show(respond, question_blocks(state, resumed=bool(state.answers)), replace=True)

    @app.action(ANSWER_ACTION)
    @friendly_errors
    async def answer(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        attempt_text, rest = action["value"].split(":", 1)
        question_id, option_text = rest.rsplit(":", 1)
        learner = ctx.action_learner(context, body)
        event_id = f"{action['action_ts']}:{learner.user_id}"
        state = await ctx.course.answer_test(learner, int(attempt_text), question_id, int(option_text), event_id)
        if state.finished:
            result = await ctx.course.finish_test(learner, state.attempt.id)
            await show(respond, result_blocks(result, state.module), replace=True)
        else:
            await show(respond, question_blocks(state), replace=True)
