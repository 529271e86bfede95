"""The learner's progress: on the app's Home tab (``app_home_opened`` -> ``views.publish``) and ``/progress``.

``/progress export`` sends the learner everything the course stores about them (``bot.core.data_rights``) as
a file in their DM with the app, where only they see it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.course import ModuleProgress
from bot.core.data_rights import DataRights
from bot.core.review import ReviewService, status_text
from bot.core.store.base import LearnerRef
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors, optional_module
from bot.slack.mrkdwn import escape
from bot.slack.uploads import Attachment, send_to_dm

USAGE = "`/progress [module]` or `/progress export`, e.g. `/progress`"
COMMANDS = "`/lesson N` · `/quiz N` · `/lab N` · `/test` · `/review` · `/progress`"


def progress_blocks(progress: ModuleProgress, review: str) -> list[Block]:
    """The progress card; ``review`` says what is due for review."""
    module = progress.module
    viewed = sorted(progress.lessons_viewed)
    lessons = f"*Lessons*: {len(viewed)} of {len(module.lessons)} read"
    if viewed:
        lessons += f" ({', '.join(str(n) for n in viewed)})"
    quiz_lines = [
        f"• Lesson {lesson}: {progress.quiz_correct.get(lesson, 0)}/{len(quiz.questions)} correct"
        f" ({progress.quiz_answered.get(lesson, 0)} answered)"
        for lesson, quiz in sorted(module.quizzes.items())
    ]
    lab_lines = [
        f"• Lab {number}: " + (
            "✅ complete" if lab.complete else f"{lab.asked}/{lab.lab.questions_to_complete} questions asked"
        )
        for number, lab in sorted(progress.labs.items())
    ]
    if progress.best_test_percent is None:
        test = "*Module test*: not taken yet (`/test`)"
    else:
        verdict = "✅ passed" if progress.test_passed else "not passed yet"
        attempts = f"{progress.test_attempts} attempt{'s' if progress.test_attempts != 1 else ''}"
        test = f"*Module test*: best {progress.best_test_percent}%, {verdict} ({attempts})"
    out = [blocks.header(f"Your progress: Module {module.number}: {module.title}")]
    out += blocks.sections(lessons)
    if quiz_lines:
        out += blocks.sections("*Quizzes*\n" + "\n".join(quiz_lines))
    if lab_lines:
        out += blocks.sections("*Labs*\n" + "\n".join(lab_lines))
    out += blocks.sections(test)
    out += blocks.sections(f"*Review*: {escape(review)} (`/review`)")
    out += blocks.context([escape(module.summary), COMMANDS])
    return out


def register(app: AsyncApp, ctx: SlackContext) -> None:
    review = ReviewService(ctx.course)
    rights = DataRights(ctx.course.store)

    async def review_line(learner: LearnerRef) -> str:
        return status_text(await review.status(learner), review.now())

    @app.command("/progress")
    @friendly_errors
    async def progress_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        learner = ctx.command_learner(context, command)
        if command.get("text", "").strip().lower() == "export":
            data = await rights.export(learner)
            await send_to_dm(ctx, context.team_id, learner.user_id,
                             [Attachment(data.filename, data.content, "Your course data")],
                             f"Everything the course stores about you ({data.rows} rows), as JSON.")
            await respond(text="📦 I sent your data to our direct messages: only you can see it.",
                          response_type="ephemeral", replace_original=False)
            return
        module = optional_module(command.get("text", ""), USAGE)
        progress = await ctx.course.progress(learner, module)
        await respond(text="Your progress", blocks=progress_blocks(progress, await review_line(learner)),
                      response_type="ephemeral", replace_original=False)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        learner = ctx.learner(context.team_id, event["user"])
        progress = await ctx.course.progress(learner)
        await ctx.pacing.call("views.publish", context.team_id)
        view = {"type": "home", "blocks": progress_blocks(progress, await review_line(learner))}
        await ctx.client.views_publish(user_id=event["user"], view=view)
