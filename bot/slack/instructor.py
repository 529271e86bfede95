"""``/course-stats [module]``: per-question statistics for instructors, with the full table as a CSV file.

Instructors are the workspace's admins and owners (``users.info``) and the user ids in
``SLACK_INSTRUCTORS``. The summary is ephemeral; the CSV goes to the instructor's DM with the app through
Slack's upload flow (``files.getUploadURLExternal``, the upload, ``files.completeUploadExternal``).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.course import QuestionStats
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.context import SlackContext, friendly_errors, optional_module
from bot.slack.mrkdwn import escape, plain

USAGE = "`/course-stats [module]`, e.g. `/course-stats`"
NOT_ALLOWED = "Course statistics are for instructors (workspace admins and owners, or SLACK_INSTRUCTORS)."


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


def stats_blocks(stats: list[QuestionStats], module: int) -> list[Block]:
    answered = [s for s in stats if s.answered]
    hardest = min(answered, key=lambda s: s.share_correct, default=None)
    out = [blocks.header(f"Course statistics: Module {module}")]
    out += blocks.sections("\n".join(stats_line(entry) for entry in stats) or "No questions in this module.")
    if hardest is not None:
        out += blocks.context([f"Hardest so far: {escape(plain(hardest.question.prompt, 200))}"])
    out += blocks.context(["First answers only. The full table (every option) is in the CSV sent to your DMs."])
    return blocks.paginate(out)[0]


def register(app: AsyncApp, ctx: SlackContext) -> None:
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
        await respond(text=f"Course statistics: Module {module.number}", blocks=stats_blocks(stats, module.number),
                      response_type="ephemeral", replace_original=False)
        await ctx.pacing.call("conversations.open", context.team_id)
        dm = (await ctx.client.conversations_open(users=user))["channel"]["id"]
        await ctx.pacing.call("files.getUploadURLExternal", context.team_id)
        await ctx.pacing.call("files.completeUploadExternal", context.team_id)
        await ctx.client.files_upload_v2(
            channel=dm, content=ctx.course.stats_csv(stats), filename=f"module-{module.number}-stats.csv",
            title=f"Module {module.number} statistics", initial_comment="Per-question statistics (first answers).",
        )
