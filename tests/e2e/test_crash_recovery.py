"""A real ``coursebot`` process cut mid-answer, on Discord and on Slack (issue 8).

The bot runs as a subprocess (as Docker runs it) against the emulators and the fake Claude, whose answer
stalls after a few words, so the answer is mid-stream when the process is stopped:

* SIGTERM: the bot stops admitting, gives the answer the grace period (``COURSEBOT_SHUTDOWN_GRACE``), then ends
  it: the message keeps its text with the notice, no cursor, no Stop button; the turn is recorded as
  interrupted; exit 0.
* SIGKILL, then a restart: the restarted process finds the answer's claim past its lease and repairs the message
  within 20 s of the kill (the issue's bound, met with the real lease and sweep intervals: the lease runs out at
  most ``LEASE_SECONDS`` after the last renewal, then the sweep runs every ``SWEEP_SECONDS``): what had been
  shown plus the notice, no cursor, no Stop button; the turn is recorded as interrupted; the question is not sent
  to the API again, not even when its event is delivered once more.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.core.messages import INTERRUPTED
from tests.e2e.slack_harness import ALICE, CHANNEL
from tests.e2e.test_discord_labs import answers, ask, open_lab
from tests.e2e.test_shutdown import GRACE, _discord_env, _start, _stopped
from tests.emulators import discord as discord_emulator
from tests.emulators import slack as slack_emulator
from tests.emulators.anthropic import Cut, FakeAnthropic, Reply
from tests.emulators.slack import buttons

pytestmark = pytest.mark.e2e

RECONCILE_BOUND = 20.0  # seconds from the kill to the repaired message (issue 8)
TEXT = "Streaming shows each word as soon as it is written, so a reader starts at once. " * 8
CHUNK = 5
SHOWN = TEXT[: 9 * CHUNK]  # the fake sends this much, then stalls: the answer is cut mid-stream
CUT_SHORT = Reply(text=TEXT, chunk_chars=CHUNK, cut=Cut("stall", after=len(SHOWN) // CHUNK))


class Lab(Protocol):
    """One learner's lab on a platform, driven through its emulator while a bot subprocess serves it."""

    platform: str
    env: dict[str, str]

    async def start(self, tmp_path: Path) -> asyncio.subprocess.Process:
        """Start the bot and wait until it is connected."""

    async def ask_cut(self, question: str) -> None:
        """Open the lab (the first time), ask, and wait until the answer shows ``SHOWN`` mid-stream."""

    def streaming(self) -> bool:
        """The answer still looks like it streams (a cursor or an open stream, and a Stop button)."""

    def ended(self) -> str | None:
        """What the answer shows once it has ended (no cursor, no open stream, no Stop button on it); else None."""

    async def redeliver(self) -> None:
        """Deliver the cut question's event once more."""

    async def answered(self, question: str) -> None:
        """Ask ``question`` and wait until its answer is complete."""


@dataclass
class DiscordLab:
    emu: discord_emulator.DiscordEmulator
    fake: FakeAnthropic
    platform: str = "discord"
    alice: discord_emulator.User | None = None
    thread_id: int = 0
    question: discord_emulator.Message | None = None
    answer: discord_emulator.Message | None = None

    @property
    def env(self) -> dict[str, str]:
        return _discord_env(self.emu, self.fake)

    async def start(self, tmp_path: Path) -> asyncio.subprocess.Process:
        identified = self.emu.identified
        process = await _start(tmp_path, "discord", env=self.env)
        await self.emu.wait_until(lambda: self.emu.identified > identified and self.emu.commands, timeout=15)
        return process

    async def ask_cut(self, question: str) -> None:
        self.alice = self.emu.add_user("alice")
        self.thread_id, _ = await open_lab(self.emu, self.alice)
        self.question = await self.emu.say(self.alice, self.thread_id, question)
        (self.answer,) = await self.emu.wait_until(
            lambda: [m for m in answers(self.emu, self.thread_id) if m.body.startswith(SHOWN)])

    def streaming(self) -> bool:
        assert self.answer is not None
        return self.answer.body == f"{SHOWN} ▌" and bool(self.answer.buttons())

    def ended(self) -> str | None:
        assert self.answer is not None
        body = self.answer.body
        return None if "▌" in body or self.answer.buttons() else body

    async def redeliver(self) -> None:
        assert self.question is not None
        await self.emu.dispatch("MESSAGE_CREATE", self.question.data)

    async def answered(self, question: str) -> None:
        assert self.alice is not None
        await ask(self.emu, self.alice, self.thread_id, question)


@dataclass
class SlackLab:
    slack: slack_emulator.SlackEmulator
    fake: FakeAnthropic
    platform: str = "slack"
    parent: slack_emulator.Message | None = None
    question: slack_emulator.Message | None = None
    answer: slack_emulator.Message | None = None
    stops: list[slack_emulator.Ephemeral] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"SLACK_BOT_TOKEN": self.slack.bot_token, "SLACK_APP_TOKEN": self.slack.app_token,
                "SLACK_API_URL": self.slack.api_url, "ANTHROPIC_API_KEY": self.fake.api_key,
                "ANTHROPIC_BASE_URL": self.fake.url}

    async def start(self, tmp_path: Path) -> asyncio.subprocess.Process:
        connections = self.slack.socket_connections
        process = await _start(tmp_path, "slack", env=self.env)
        await self.slack.wait_for(lambda: self.slack.socket_connections > connections, 15)
        return process

    async def ask_cut(self, question: str) -> None:
        self.slack.add_user(ALICE, "alice")
        await self.slack.slash("/lab", "1", user=ALICE, channel=CHANNEL)
        [self.parent] = await self.slack.wait_for(lambda: self.slack.channel_messages(CHANNEL))
        self.question = await self.slack.say(question, user=ALICE, thread_ts=self.parent.ts)
        [self.answer] = await self.slack.wait_for(lambda: [m for m in self.slack.bot_replies(CHANNEL, self.parent.ts)
                                                           if m.shown.startswith(SHOWN)])
        self.stops = await self.slack.wait_for(lambda: [e for e in self.slack.ephemerals_for(ALICE)
                                                        if buttons(e.blocks)])

    def streaming(self) -> bool:
        assert self.answer is not None
        return self.answer.streaming or self.answer.shown.endswith("▌")

    def ended(self) -> str | None:
        assert self.answer is not None
        answer = self.answer
        return None if "▌" in answer.shown or answer.streaming or buttons(answer.blocks) else answer.shown

    async def redeliver(self) -> None:
        assert self.question is not None
        envelope = self.slack.message_events[(CHANNEL, self.question.ts)]
        assert (await self.slack.deliver("events_api", envelope, mode="socket", retry=1))[0] == 200
        # The learner's Stop button is an ephemeral message the bot cannot take back: pressed now, it says so.
        await self.slack.click(self.stops[0], user=ALICE, action_id="lab:stop")
        await self.slack.wait_for(lambda: "already finished" in self.stops[0].shown)

    async def answered(self, question: str) -> None:
        assert self.parent is not None
        parent = self.parent
        await self.slack.say(question, user=ALICE, thread_ts=parent.ts)
        await self.slack.wait_for(lambda: [m for m in self.slack.bot_replies(CHANNEL, parent.ts)
                                           if "TTFT" in m.shown and not m.streaming], 15)


@pytest.fixture(params=["discord", "slack"])
async def lab(request: pytest.FixtureRequest, fake_anthropic: FakeAnthropic) -> Any:
    fake_anthropic.script(CUT_SHORT)  # the next question is answered in full
    if request.param == "discord":
        async with discord_emulator.DiscordEmulator() as emu:
            yield DiscordLab(emu, fake_anthropic)
    else:
        async with slack_emulator.SlackEmulator() as slack:
            yield SlackLab(slack, fake_anthropic)


def checkpoint(db: Path) -> str | None:
    """What the streaming answer's last lease renewal recorded as shown (read beside the running bot)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        row = con.execute("SELECT shown FROM lab_answers WHERE status = 'streaming'").fetchone()
    return row[0] if row else None


def turn_statuses(db: Path) -> list[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return [status for (status,) in con.execute("SELECT status FROM lab_turns ORDER BY id")]


async def recorded(db: Path, statuses: list[str], timeout: float) -> None:
    """Wait until the lab turns recorded are ``statuses`` (the repair comes first, then the record)."""
    for _ in range(max(1, int(timeout / 0.05))):
        if turn_statuses(db) == statuses:
            return
        await asyncio.sleep(0.05)
    assert turn_statuses(db) == statuses


async def checkpointed(db: Path, shown: str, process: asyncio.subprocess.Process) -> None:
    """Wait until the bot has renewed the answer's lease with ``shown`` (every ``RENEW_SECONDS``)."""
    for _ in range(200):
        if checkpoint(db) == shown:
            return
        assert process.returncode is None, "the bot exited"
        await asyncio.sleep(0.05)
    raise AssertionError(f"no checkpoint of {shown!r}: {checkpoint(db)!r}")


async def kill(process: asyncio.subprocess.Process) -> float:
    process.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    await process.wait()
    assert process.returncode == -signal.SIGKILL
    return time.monotonic()


async def test_sigterm_mid_answer_ends_it_with_the_notice_and_exits_0(
    lab: Lab, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    process = await lab.start(tmp_path)
    try:
        await lab.ask_cut("Explain slowly")
        assert lab.streaming()
        log = await _stopped(process, signal.SIGTERM)  # exit 0, asserted there
        assert (lab.ended() or "").startswith(f"{SHOWN}\n\n{INTERRUPTED}\n\nTTFT "), (lab.ended(), log)
        assert turn_statuses(tmp_path / "course.db") == ["interrupted"]
        assert f"shutting down: 1 lab answer(s) interrupted after the {GRACE:.0f} s grace" in log
        assert fake_anthropic.request_count == 1
    finally:
        if process.returncode is None:
            await kill(process)


async def test_sigkill_mid_answer_is_reconciled_after_a_restart_without_asking_again(
    lab: Lab, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    db = tmp_path / "course.db"
    process = await lab.start(tmp_path)
    try:
        await lab.ask_cut("Explain slowly")
        await checkpointed(db, SHOWN, process)
        killed = await kill(process)
        assert lab.streaming(), "cut mid-answer: it still looks like it streams"

        process = await lab.start(tmp_path)
        left = RECONCILE_BOUND - (time.monotonic() - killed)

        async def repaired() -> None:
            while lab.ended() != f"{SHOWN}\n\n{INTERRUPTED}":
                await asyncio.sleep(0.05)

        await asyncio.wait_for(repaired(), left)
        await recorded(db, ["interrupted"], timeout=RECONCILE_BOUND - (time.monotonic() - killed))
        assert fake_anthropic.request_count == 1, "the question was not sent again"

        await lab.redeliver()
        await lab.answered("After the crash?")
        assert [r.question for r in fake_anthropic.requests] == ["Explain slowly", "After the crash?"]
        assert turn_statuses(db) == ["interrupted", "complete"]
        log = await _stopped(process, signal.SIGTERM)
        assert "recovered a lab answer cut by a stopped process" in log
    finally:
        if process.returncode is None:
            await kill(process)
