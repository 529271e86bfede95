"""``/lab`` and ``/ask``: a lab thread per learner with a lesson-specific Claude assistant.

``/lab`` opens a thread (private where the server allows it, else public) and posts the assistant's
greeting with suggested-question buttons; a learner who already has a thread for that lab is pointed back to
it, with a button to start a fresh one. The learner's messages in the thread (Message Content intent),
``/ask`` and the suggested questions are admitted by ``LabAssistant.admit`` (which decides everything: a
refusal is replied, a redelivered event is ignored) and answered by ``LabAssistant.answer``; the answer
streams into one message (an embed, continued in a new one past 4,000 characters) through the shared pacer,
with a typing indicator until the first text and a Stop button inside it while it streams; the footer carries
the lab's progress. The final edit that removes Stop puts the answer's sources (📖 buttons that post the lesson
section privately) and 👍 / 👎 in its place (👎 asks for an optional reason in a modal). Only the thread's learner
triggers the model. After a crash, ``repair`` puts the cut answer's message right (``bot.core.recovery``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._autocomplete import number_autocomplete
from bot.cogs._context import PLATFORM, cog_of, learner_for, learner_of, runtime_of
from bot.cogs._render import COLOUR, NO_PINGS, clip, source_messages
from bot.cogs._sink import EmbedAnswerSink, typing_until
from bot.cogs._ui import CourseButton, label, view_of
from bot.cogs.errors import APOLOGY, report
from bot.core import messages
from bot.core.citations import SOURCE_MARK
from bot.core.content.model import Lab
from bot.core.course import CourseError, button_number
from bot.core.feedback import REASON_MAX, AnswerFeedbackService, thanks
from bot.core.labs import Ending, LabAssistant, StopResult, Ticket
from bot.core.store.base import LabThread
from bot.core.streaming.engine import ProgressiveMessage
from bot.core.streaming.pacing import Priority
from bot.core.tasks import spawn

if TYPE_CHECKING:
    from bot.discord_app import CourseBot

log = logging.getLogger(__name__)

THREAD_NAME_MAX = 100
ECHO_MAX = 1900
ARCHIVE_MINUTES = 1440
UNREADABLE = ("I can't read messages here (the bot runs without Discord's Message Content intent). "
              "Ask with `/ask question:` in this thread, or mention me in front of your question.")


class StopButton(CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:lab:stop:(?P<answer>\d+)"):
    def __init__(self, answer_id: int) -> None:
        super().__init__(discord.ui.Button(
            label="Stop", emoji="⏹️", style=discord.ButtonStyle.danger, custom_id=f"cb:lab:stop:{answer_id}",
        ))
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> StopButton:
        return cls(button_number(match["answer"]))

    async def handle(self, interaction: discord.Interaction) -> None:
        result = await _labs_cog(interaction).assistant().stop(self.answer_id, learner_of(interaction))
        if result is StopResult.STOPPING:
            await interaction.response.defer()
        else:
            await interaction.response.send_message(result.value, ephemeral=True)


class SourceButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:lab:src:(?P<answer>\d+):(?P<index>\d)"
):
    """One of a finished answer's sources: posts the lesson section privately to whoever presses it."""

    def __init__(self, answer_id: int, index: int, section: str = "") -> None:
        super().__init__(discord.ui.Button(
            label=label(section or "Source"), emoji=SOURCE_MARK, style=discord.ButtonStyle.secondary, row=0,
            custom_id=f"cb:lab:src:{answer_id}:{index}",
        ))
        self.answer_id, self.index = answer_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> SourceButton:
        return cls(button_number(match["answer"]), button_number(match["index"]), item.label or "")

    async def handle(self, interaction: discord.Interaction) -> None:
        section = await _feedback(interaction).source(self.answer_id, self.index)
        first, *rest = source_messages(section)
        await interaction.response.send_message(embeds=first, ephemeral=True)
        for embeds in rest:
            await interaction.followup.send(embeds=embeds, ephemeral=True)


class FeedbackButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:lab:fb:(?P<answer>\d+):(?P<vote>up|down)",
):
    """👍 / 👎 on a finished answer (its learner only). 👎 is stored at once, then a modal asks for a reason."""

    def __init__(self, answer_id: int, helpful: bool) -> None:
        super().__init__(discord.ui.Button(
            emoji="👍" if helpful else "👎", style=discord.ButtonStyle.secondary, row=1,
            custom_id=f"cb:lab:fb:{answer_id}:{'up' if helpful else 'down'}",
        ))
        self.answer_id, self.helpful = answer_id, helpful

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> FeedbackButton:
        return cls(button_number(match["answer"]), match["vote"] == "up")

    async def handle(self, interaction: discord.Interaction) -> None:
        stored = await _feedback(interaction).rate(self.answer_id, learner_of(interaction), self.helpful)
        if self.helpful:
            await interaction.response.send_message(thanks(stored), ephemeral=True)
        else:
            await interaction.response.send_modal(ReasonModal(self.answer_id))


class ReasonModal(discord.ui.Modal, title="What was wrong with this answer?"):
    reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(
        label="Reason (optional)", style=discord.TextStyle.paragraph, required=False, max_length=REASON_MAX,
        placeholder="e.g. it did not answer my question, or it contradicts the lesson",
    )

    def __init__(self, answer_id: int) -> None:
        super().__init__(timeout=600, custom_id=f"cb:lab:why:{answer_id}")
        self.answer_id = answer_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        stored = await _feedback(interaction).rate(
            self.answer_id, learner_of(interaction), helpful=False, reason=self.reason.value or ""
        )
        await interaction.response.send_message(thanks(stored), ephemeral=True)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error)


def ending_view(answer_id: int, ending: Ending | None) -> discord.ui.View | None:
    """The finished answer's controls: a button per source (up to five), then 👍 / 👎; None when it has none."""
    if ending is None:
        return None
    items: list[discord.ui.Item[discord.ui.View]] = [
        SourceButton(answer_id, index, source.section) for index, source in enumerate(ending.sources[:5])
    ]
    if ending.rateable:
        items += [FeedbackButton(answer_id, True), FeedbackButton(answer_id, False)]
    return view_of(*items) if items else None


def _feedback(interaction: discord.Interaction) -> AnswerFeedbackService:
    return AnswerFeedbackService(runtime_of(interaction).course)


class SuggestedQuestionButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button], template=r"cb:lab:ask:(?P<index>\d)"
):
    def __init__(self, index: int, text: str) -> None:
        super().__init__(discord.ui.Button(
            label=label(text), style=discord.ButtonStyle.secondary, custom_id=f"cb:lab:ask:{index}",
        ))
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> SuggestedQuestionButton:
        return cls(button_number(match["index"]), item.label or "")

    async def handle(self, interaction: discord.Interaction) -> None:
        cog = _labs_cog(interaction)
        thread, lab_thread = await cog.learners_thread(interaction)
        lab = runtime_of(interaction).course.lab(lab_thread.lab, lab_thread.module)
        if not 0 <= self.index < len(lab.suggested_questions):
            raise CourseError("That suggestion is no longer part of this lab. Type your question instead.")
        await cog.ask_from_interaction(interaction, thread, lab_thread, lab.suggested_questions[self.index])


class LabStartButton(
    CourseButton, discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:lab:(?P<how>open|fresh):(?P<module>\d+):(?P<lab>\d+)",
):
    """"Open the lab" (an existing thread is pointed to), or "Start a fresh thread" (``fresh``)."""

    def __init__(self, module: int, lab: int, *, numbered: bool = False, fresh: bool = False) -> None:
        text = "Start a fresh thread" if fresh else f"Open lab {lab}" if numbered else "Open the lab"
        super().__init__(discord.ui.Button(
            label=text, emoji="🧪", style=discord.ButtonStyle.secondary if fresh else discord.ButtonStyle.primary,
            custom_id=f"cb:lab:{'fresh' if fresh else 'open'}:{module}:{lab}",
        ))
        self.module, self.lab, self.fresh = module, lab, fresh

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> LabStartButton:
        return cls(button_number(match["module"]), button_number(match["lab"]), fresh=match["how"] == "fresh")

    async def handle(self, interaction: discord.Interaction) -> None:
        await _labs_cog(interaction).open_lab(interaction, self.lab, self.module, fresh=self.fresh)


def _labs_cog(interaction: discord.Interaction) -> Labs:
    return cast(Labs, cog_of(interaction, "Labs"))


def greeting_embed(lab: Lab, learner: discord.abc.User) -> discord.Embed:
    need = lab.questions_to_complete
    embed = discord.Embed(
        title=clip(f"🧪 Lab {lab.number}: {lab.title}", 256),
        description=clip(
            f"{lab.greeting}\n\nAsk me anything about this lesson right here: just type your question "
            f"(or use `/ask`). Ask {need} question{'s' if need != 1 else ''} to complete the lab.", 4096),
        colour=COLOUR,
    )
    embed.set_author(name=clip(lab.assistant_name, 256))  # the greeting says what it covers
    if lab.suggested_questions:
        embed.add_field(name="Try one of these", inline=False, value=clip(
            "\n".join(f"{i}. {q}" for i, q in enumerate(lab.suggested_questions, start=1)), 1024))
    embed.set_footer(text=f"Lab thread of {learner.display_name}")
    return embed


class Labs(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(StopButton, SuggestedQuestionButton, LabStartButton, SourceButton, FeedbackButton)
        if self.bot.runtime.recovery is not None:
            self.bot.runtime.recovery.register(PLATFORM, self.repair)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(StopButton, SuggestedQuestionButton, LabStartButton, SourceButton,
                                      FeedbackButton)

    @staticmethod
    def start_button(module: int, lab: int, *, numbered: bool = False) -> discord.ui.Item[discord.ui.View]:
        """The "Open the lab" button other cogs put on their messages (lessons)."""
        return LabStartButton(module, lab, numbered=numbered)

    def assistant(self) -> LabAssistant:
        """The lab assistant; a friendly error when Claude is not configured."""
        if self.bot.runtime.labs is None:
            raise CourseError(messages.NO_CLAUDE)
        return self.bot.runtime.labs

    # -- opening a lab -----------------------------------------------------------------------------

    @app_commands.command(name="lab", description="Open a lab thread with the lesson's Claude assistant.")
    @app_commands.describe(number="The lab number", module="The module (default: the current one)")
    @app_commands.autocomplete(
        number=number_autocomplete(lambda module: {n: lab.title for n, lab in module.labs.items()})
    )
    @app_commands.guild_only()
    async def lab(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, 999],
        module: app_commands.Range[int, 1, 999] | None = None,
    ) -> None:
        await self.open_lab(interaction, number, module)

    async def open_lab(
        self, interaction: discord.Interaction, number: int, module: int | None, *, fresh: bool = False
    ) -> None:
        learner = learner_of(interaction)
        self.assistant()  # fail before a thread exists when Claude is not configured
        course = self.bot.runtime.course
        found = course.module(module)
        lab = course.lab(number, found.number)
        existing = None if fresh else await course.existing_lab_thread(learner, lab.number, PLATFORM, found.number)
        if existing is not None:
            await interaction.response.send_message(
                f"You already have a thread for lab {lab.number}: <#{existing.thread_key}>. Carry on there, "
                "or start a fresh thread (your earlier questions still count).",
                view=view_of(LabStartButton(found.number, lab.number, fresh=True)), ephemeral=True,
            )
            return
        channel = interaction.channel
        if isinstance(channel, discord.Thread):
            channel = channel.parent
        if not isinstance(channel, discord.TextChannel):
            raise CourseError("Labs open in a thread: run `/lab` in one of the server's text channels.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        name = clip(f"Lab {lab.number}: {lab.title} · {interaction.user.display_name}", THREAD_NAME_MAX)
        thread = await self._create_thread(channel, name)
        await self.bot.pacer.acquire_global(priority=Priority.FINAL)
        await thread.add_user(interaction.user)
        await course.open_lab(learner, lab.number, PLATFORM, str(thread.id), found.number)
        suggestions = [SuggestedQuestionButton(i, q) for i, q in enumerate(lab.suggested_questions[:10])]
        await self.bot.pacer.acquire(str(thread.id), priority=Priority.FIRST, kind="post")
        await thread.send(
            f"Welcome, {interaction.user.mention}!", embed=greeting_embed(lab, interaction.user),
            view=view_of(*suggestions) if suggestions else discord.utils.MISSING,
        )
        await interaction.followup.send(f"Your lab is ready: {thread.mention}", ephemeral=True)

    async def _create_thread(self, channel: discord.TextChannel, name: str) -> discord.Thread:
        await self.bot.pacer.acquire_global(priority=Priority.FINAL)
        try:
            return await channel.create_thread(
                name=name, type=discord.ChannelType.private_thread, invitable=False,
                auto_archive_duration=ARCHIVE_MINUTES, reason="Lab thread",
            )
        except discord.HTTPException as exc:
            if exc.status not in (400, 403):
                raise
            log.info("private threads not allowed in #%s (%s); opening a public thread", channel.name, exc.text)
        await self.bot.pacer.acquire_global(priority=Priority.FINAL)
        return await channel.create_thread(
            name=name, type=discord.ChannelType.public_thread, auto_archive_duration=ARCHIVE_MINUTES,
            reason="Lab thread",
        )

    # -- asking --------------------------------------------------------------------------------------

    async def _lab_thread_of(self, channel: object) -> LabThread | None:
        if not isinstance(channel, discord.Thread):
            return None
        return await self.bot.runtime.course.lab_thread(PLATFORM, str(channel.id))

    async def _is_learner(self, lab_thread: LabThread, guild_id: int, user: discord.abc.User) -> bool:
        return await self.bot.runtime.course.is_lab_learner(lab_thread, learner_for(guild_id, user))

    async def learners_thread(self, interaction: discord.Interaction) -> tuple[discord.Thread, LabThread]:
        """The lab thread the interaction happened in, checked to be the user's own."""
        channel = interaction.channel
        lab_thread = await self._lab_thread_of(channel)
        if lab_thread is None or not isinstance(channel, discord.Thread):
            raise CourseError(messages.NOT_A_LAB)
        if not await self._is_learner(lab_thread, channel.guild.id, interaction.user):
            raise CourseError(messages.NOT_YOURS.format(number=lab_thread.lab))
        return channel, lab_thread

    @app_commands.command(name="ask", description="Ask your lab assistant a question (inside your lab thread).")
    @app_commands.describe(question="Your question for the lab assistant")
    @app_commands.guild_only()
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 4000]) -> None:
        thread, lab_thread = await self.learners_thread(interaction)
        await self.ask_from_interaction(interaction, thread, lab_thread, question)

    async def ask_from_interaction(
        self, interaction: discord.Interaction, thread: discord.Thread, lab_thread: LabThread, question: str
    ) -> None:
        """Echo the question publicly (the learner's own words), then stream the answer below it.

        The question is admitted before the echo, so a refusal (an ephemeral reply) shows nothing in the thread.
        """
        ticket = await self.assistant().admit(lab_thread, question, event_id=f"discord:{interaction.id}")
        if ticket is None:  # a redelivered interaction: answered already
            return
        await interaction.response.send_message(
            clip(f"❓ **{interaction.user.display_name} asked:** {ticket.question}", ECHO_MAX),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await self.answer(thread, ticket)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None or message.type not in (
            discord.MessageType.default, discord.MessageType.reply
        ):
            return
        lab_thread = await self._lab_thread_of(message.channel)
        if lab_thread is None or not isinstance(message.channel, discord.Thread):
            return
        if not await self._is_learner(lab_thread, message.guild.id, message.author):
            return
        question = self._question_in(message)
        if not question and not self.bot.intents.message_content:
            await self._reply(message, UNREADABLE)
            return
        try:
            ticket = await self.assistant().admit(lab_thread, question, event_id=f"discord:{message.id}")
        except CourseError as exc:
            await self._reply(message, str(exc))
            return
        if ticket is None:  # the same MESSAGE_CREATE delivered again
            return
        try:
            await self.answer(message.channel, ticket)
        except Exception:
            log.exception("lab answer failed in thread %s", message.channel.id)
            await self._reply(message, APOLOGY)

    def _question_in(self, message: discord.Message) -> str:
        """The learner's question: the message's text without a leading mention of the bot."""
        text = message.content
        if self.bot.user is not None:
            text = re.sub(rf"^\s*<@!?{self.bot.user.id}>", "", text)
        return text.strip()

    async def _reply(self, message: discord.Message, text: str) -> None:
        try:
            await self.bot.pacer.acquire(str(message.channel.id), priority=Priority.FINAL, kind="post")
            await message.reply(text)
        except discord.HTTPException:
            log.warning("could not reply in thread %s", message.channel.id, exc_info=True)

    async def answer(self, thread: discord.Thread, ticket: Ticket) -> None:
        """Stream an admitted question's answer into one message of the thread (an embed with a Stop button
        while it streams), with typing until the first text unless the bot's budget is busy."""
        sink = EmbedAnswerSink(thread, str(thread.id), stop_view=lambda: view_of(StopButton(ticket.id)),
                          final_view=lambda: ending_view(ticket.id, ticket.ending))
        typing = spawn(typing_until(thread, sink.first_text, self.bot.pacer), name=f"typing:{thread.id}")
        try:
            await self.assistant().answer(ticket, ProgressiveMessage(sink, self.bot.pacer))
        finally:
            typing.cancel()

    async def repair(self, lab_thread: LabThread, message_ids: Sequence[str], text: str) -> None:
        """After a crash: the answer's last message shows ``text``; no message keeps a Stop button."""
        channel = self.bot.get_partial_messageable(int(lab_thread.thread_key), type=discord.ChannelType.private_thread)
        sink = EmbedAnswerSink(channel, lab_thread.thread_key)
        await self.bot.pacer.acquire(sink.bucket, priority=Priority.COMPLETE)
        if not message_ids:
            await sink.post(text, final=True)
            return
        *earlier, last = message_ids
        for message_id in earlier:
            await channel.get_partial_message(int(message_id)).edit(view=None, allowed_mentions=NO_PINGS)
            await self.bot.pacer.acquire(sink.bucket, priority=Priority.COMPLETE)
        await sink.edit(last, text, final=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Labs(bot))
