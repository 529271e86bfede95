"""Files sent privately: a DM with the app (``conversations.open``) and Slack's upload flow.

``files_upload_v2`` runs the three steps: ``files.getUploadURLExternal`` per file, the upload to the URL it
returns, and one ``files.completeUploadExternal`` that shares every file in the DM in a single message.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.slack.context import SlackContext


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: str | bytes
    title: str
    alt_text: str | None = None  # what a screen reader says for an image


async def send_to_dm(ctx: SlackContext, team_id: str, user_id: str, files: list[Attachment], comment: str) -> None:
    """Share ``files`` in the user's DM with the app, under ``comment``."""
    await ctx.pacing.call("conversations.open", team_id)
    dm = (await ctx.client.conversations_open(users=user_id))["channel"]["id"]
    for _ in files:
        await ctx.pacing.call("files.getUploadURLExternal", team_id)
    await ctx.pacing.call("files.completeUploadExternal", team_id)
    await ctx.client.files_upload_v2(
        channel=dm, initial_comment=comment,
        file_uploads=[{"filename": f.filename, "content": f.content, "title": f.title, "alt_txt": f.alt_text}
                      for f in files],
    )
