"""``/lesson N [module]``: the lesson as Block Kit in the channel, with "Take the quiz" / "Open the lab"."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.content.model import Lesson, Module
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, UsageError, friendly_errors, number_and_module
from bot.slack.labs import start_lab
from bot.slack.mrkdwn import escape, inline, to_mrkdwn
from bot.slack.quizzes import post_quiz

USAGE = "`/lesson <number> [module]`, e.g. `/lesson 1`"
QUIZ_ACTION = "lesson:quiz"
LAB_ACTION = "lesson:lab"


def lesson_blocks(lesson: Lesson, module: Module) -> list[Block]:
    """The whole lesson: title, summary, opening question, sections, key terms, then the buttons."""
    out = [blocks.header(f"Lesson {lesson.number}: {lesson.title}")]
    out += blocks.context([f"Module {module.number}: {escape(module.title)}"])
    out += blocks.sections(inline(lesson.summary))
    if lesson.opening_question:
        out += blocks.sections(f"> *{inline(lesson.opening_question)}*")
    for part in lesson.sections:
        out.append(blocks.divider())
        heading = f"*{inline(part.heading)}*\n" if part.heading else ""
        out += blocks.sections(heading + to_mrkdwn(part.markdown))
    if lesson.key_terms:
        out.append(blocks.divider())
        out += blocks.sections("*Key terms*")
        out += blocks.context(f"*{escape(k.term)}*: {inline(k.definition)}" for k in lesson.key_terms)
    buttons = []
    if lesson.number in module.quizzes:
        buttons.append(blocks.button("Take the quiz", QUIZ_ACTION, f"{module.number}:{lesson.number}", style="primary"))
    for lab in module.labs.values():
        if lab.lesson == lesson.number:
            buttons.append(blocks.button("Open the lab", LAB_ACTION, f"{module.number}:{lab.number}"))
    if buttons:
        out.append(blocks.actions(buttons, block_id=f"lesson:{module.number}:{lesson.number}"))
    return out


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.command("/lesson")
    @friendly_errors
    async def lesson_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        try:
            number, module_number = number_and_module(command.get("text", ""), USAGE)
        except UsageError as exc:  # say which lessons there are, not only how to type the command
            current = ctx.course.module()
            raise UsageError(f"{exc} Lessons in Module {current.number}: "
                             f"{', '.join(map(str, current.lesson_numbers))}.") from None
        module = ctx.course.module(module_number)
        lesson = await ctx.course.view_lesson(ctx.command_learner(context, command), number, module.number)
        title = escape(f"Lesson {lesson.number}: {lesson.title}")
        for page in blocks.paginate(lesson_blocks(lesson, module)):
            await ctx.post(command["channel_id"], text=title, blocks=page)

    @app.action(QUIZ_ACTION)
    @friendly_errors
    async def quiz_button(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        module, lesson = (int(part) for part in action["value"].split(":"))
        await post_quiz(ctx, body["channel"]["id"], lesson, module)

    @app.action(LAB_ACTION)
    @friendly_errors
    async def lab_button(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        module, lab = (int(part) for part in action["value"].split(":"))
        await start_lab(ctx, ctx.action_learner(context, body), body["channel"]["id"], lab, module, respond)
