"""Instructor tools: ``/course-stats [module]`` and ``/course-forget @learner``.

Instructors are the workspace's admins and owners (``users.info``) and the user ids in
``SLACK_INSTRUCTORS``. ``/course-stats`` answers with an ephemeral summary (with the workspace's lab answers
marked 👎: question, lab, lesson, reason); the per-question CSV, the chart
(drawn off the event loop) and every learner's progress as CSV go to the instructor's DM with the app
(:mod:`bot.slack.uploads`). ``/course-forget`` shows a private confirmation whose button deletes everything
the course stores about the learner; only an instructor's press counts, and an expired one deletes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.course import CourseError, QuestionStats
from bot.core.data_rights import CONFIRM_FOR, ConfirmationExpired, DataRights
from bot.core.feedback import AnswerFeedbackService, unhelpful_text
from bot.core.instructor import InstructorView, chart_filename, progress_filename, stats_filename
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, UsageError, friendly_errors, optional_module
from bot.slack.mrkdwn import escape, plain
from bot.slack.uploads import Attachment, send_to_dm

USAGE = "`/course-stats [module]`, e.g. `/course-stats`"
FORGET_USAGE = "`/course-forget @learner`, e.g. `/course-forget @alice`"
NOT_ALLOWED = "Course statistics are for instructors (workspace admins and owners, or SLACK_INSTRUCTORS)."
FORGET_NOT_ALLOWED = ("Only instructors (workspace admins and owners, or SLACK_INSTRUCTORS) can delete a learner's"
                      " data. Nothing was deleted.")
FORGET_ACTION = "course:forget"
CANCEL_FORGET_ACTION = "course:forget-cancel"
PLATFORM = "slack"
# A user as a slash command receives it when the command escapes its text (should_escape: true): <@U123|name>.
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>")
USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


async def is_instructor(ctx: SlackContext, team_id: str, user_id: str) -> bool:
    if user_id in ctx.settings.slack_instructors:
        return True
    await ctx.pacing.call("users.info", team_id)
    user = (await ctx.client.users_info(user=user_id))["user"]
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def stats_line(entry: QuestionStats) -> str:
    where = f"Quiz {entry.scope}" if entry.kind == "quiz" else "Test"
    counts = " ".join(f"{o.letter}:{n}" for o, n in zip(entry.question.options, entry.option_counts, strict=True))
    prompt = escape(plain(entry.question.prompt, 80))
    if not entry.answered:
        return f"• {where} · {prompt}: no answers yet"
    return f"• {where} · {prompt}: *{round(entry.share_correct * 100)}%* correct of {entry.answered} ({counts})"


def stats_blocks(stats: list[QuestionStats], module: int, unhelpful: str = "") -> list[Block]:
    """The summary; ``unhelpful``: the answers marked 👎 (``unhelpful_text``), "" for none."""
    answered = [s for s in stats if s.answered]
    hardest = min(answered, key=lambda s: s.share_correct, default=None)
    out = [blocks.header(f"Course statistics: Module {module}")]
    out += blocks.sections("\n".join(stats_line(entry) for entry in stats) or "No questions in this module.")
    if hardest is not None:
        out += blocks.context([f"Hardest so far: {escape(plain(hardest.question.prompt, 200))}"])
    if unhelpful:
        out += [blocks.divider(), *blocks.sections(escape(unhelpful))]
    out += blocks.context(["First answers only. The full table (every option), a chart and every learner's progress"
                           " are in the files sent to your DMs."])
    return blocks.paginate(out)[0]


def forget_target(text: str) -> str:
    """The user id in ``/course-forget``'s text (a mention, or a bare user id); ``UsageError`` otherwise."""
    words = (text or "").split()
    found = MENTION.fullmatch(words[0]) if len(words) == 1 else None
    if found:
        return found[1]
    if len(words) == 1 and USER_ID.fullmatch(words[0]):
        return words[0]
    raise UsageError(f"Name one learner. Usage: {FORGET_USAGE}")


def confirm_blocks(user_id: str, value: str) -> list[Block]:
    minutes = int(CONFIRM_FOR.total_seconds() // 60)
    text = (f"Delete everything the course stores about <@{user_id}> (lessons read, quiz and test answers, lab"
            f" questions and answers, review schedule)? This cannot be undone. The button works for {minutes}"
            " minutes.")
    return [*blocks.sections(text), blocks.actions([
        blocks.button("🗑️ Delete their data", FORGET_ACTION, value, style="danger"),
        blocks.button("Cancel", CANCEL_FORGET_ACTION, "cancel"),
    ])]


def register(app: AsyncApp, ctx: SlackContext) -> None:
    view = InstructorView(ctx.course)
    rights = DataRights(ctx.course.store)
    feedback = AnswerFeedbackService(ctx.course)

    @app.command("/course-stats")
    @friendly_errors
    async def stats_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        user = command["user_id"]
        if not await is_instructor(ctx, context.team_id, user):
            await respond(text=NOT_ALLOWED, response_type="ephemeral", replace_original=False)
            return
        module = ctx.course.module(optional_module(command.get("text", ""), USAGE))
        stats = await ctx.course.stats(module.number)
        unhelpful = unhelpful_text(await feedback.unhelpful(PLATFORM, context.team_id, module.number))
        await respond(text=f"Course statistics: Module {module.number}",
                      blocks=stats_blocks(stats, module.number, unhelpful),
                      response_type="ephemeral", replace_original=False)
        chart = await view.chart(stats, module.number)
        progress = await view.progress_csv(PLATFORM, context.team_id, module.number)
        await send_to_dm(ctx, context.team_id, user, [
            Attachment(stats_filename(module.number), ctx.course.stats_csv(stats),
                       f"Module {module.number} statistics"),
            Attachment(chart_filename(module.number), chart, f"Module {module.number} at a glance",
                       alt_text="Bar charts: learners per lesson at each stage, and correct answers per question."),
            Attachment(progress_filename(module.number), progress, f"Module {module.number} progress per learner"),
        ], "Per-question statistics (first answers), the chart, and every learner's progress.")

    @app.command("/course-forget")
    @friendly_errors
    async def forget_command(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        if not await is_instructor(ctx, context.team_id, command["user_id"]):
            await respond(text=FORGET_NOT_ALLOWED, response_type="ephemeral", replace_original=False)
            return
        target = forget_target(command.get("text", ""))
        if not await rights.is_known(ctx.learner(context.team_id, target)):
            await respond(text=f"The course stores nothing about <@{target}>: nothing to delete.",
                          response_type="ephemeral", replace_original=False)
            return
        await respond(text="Delete this learner's data?", blocks=confirm_blocks(target, rights.confirmation(target)),
                      response_type="ephemeral", replace_original=False)

    @app.action(FORGET_ACTION)
    @friendly_errors
    async def confirm_forget(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any,
                             context: Any) -> None:
        await ack()
        if not await is_instructor(ctx, context.team_id, body["user"]["id"]):
            raise CourseError(FORGET_NOT_ALLOWED)
        try:
            target = rights.confirmed_user(action["value"])
        except ConfirmationExpired as expired:
            await respond(text=f"⌛ {escape(str(expired))}", replace_original=True)
            return
        deleted = await rights.forget(ctx.learner(context.team_id, target))
        text = (f"🗑️ Deleted everything the course stored about <@{target}> ({deleted} rows)." if deleted
                else f"The course stores nothing about <@{target}> any more; nothing to delete.")
        await respond(text=text, replace_original=True)

    @app.action(CANCEL_FORGET_ACTION)
    async def cancel_forget(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="Cancelled: nothing was deleted.", replace_original=True)
