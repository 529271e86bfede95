"""Three real ``coursebot`` processes of one bot, sharing one PostgreSQL database and one Redis (issue 10).

Each process (``python -m bot``, as Docker runs it) serves Discord shard ``i`` of 3 (``COURSEBOT_SHARD_COUNT`` /
``COURSEBOT_SHARD_IDS``) and holds one Socket Mode connection of the same Slack app; one Discord emulator (six
guilds, two per shard), one Slack workspace and the fake Claude serve all three. A class uses them at once:
60 labs ask together (30 on Discord over the guilds, 30 on Slack) while 600 quiz clicks arrive at about 200 a
second (both platforms). Then:

* no 429 from either emulator: their global and per-method limits are shared by the three processes;
* nothing lost or doubled: one API request per question, one answer message per lab thread, one lab turn per
  question, every click acknowledged and recorded once (rows counted in PostgreSQL); every final text exact;
* a Stop pressed on Slack reaches the answer when the click arrives over the connection of a process that does
  not stream it (the claim's ``owner`` names the process: ``host:pid:…``);
* the process serving shard 2 is killed (SIGKILL) while its answers stream; another process repairs them from
  their last checkpoint within 30 s (interrupted notice, no cursor, no Stop, turn recorded as interrupted, no
  second API request).

Every wait is on a condition; the only time bound asserted is the issue's 30 s for the repair.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from bot.core.messages import INTERRUPTED, STOPPED
from tests.e2e.test_discord_labs import FOOTER, answers, streaming
from tests.e2e.test_discord_quizzes import COURSE, QUIZ, option_id
from tests.emulators import discord as discord_emulator
from tests.emulators import slack as slack_emulator
from tests.emulators.anthropic import Cut, FakeAnthropic, RecordedRequest, Reply
from tests.emulators.discord import LOADING, DiscordEmulator
from tests.emulators.slack import SlackEmulator, buttons

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
PROCESSES = 3  # also the Discord shard count: process i runs shard i
VICTIM = 2  # the process killed mid-answer
LABS = 30  # per platform
GUILDS = 6  # two per shard; lab learner n is in guild n % GUILDS
CLICKERS = 100  # per platform, each answering the quiz's questions: 300 clicks on each platform
CLICK_RATE = 200.0  # clicks per second, both platforms together
SLOW_ON_SLACK = 3  # Slack labs whose answer stalls until a Stop arrives
RECONCILE_BOUND = 30.0  # seconds from the kill to every repaired answer (issue 10)
CHUNK = 8
STALL_AFTER = 6  # a slow answer shows this many deltas, then stalls
SLOW = "(take your time)"
SLACK_CHANNELS = ("CLAB0", "CLAB1", "CLAB2")
QUIZ_CHANNEL = "CQUIZ"
MODULE = COURSE.default_module  # the Slack quiz buttons' values start with it


def answer_for(question: str) -> str:
    """Every question has an answer of its own: plain words that neither platform rewrites."""
    key = question.split(":", 1)[0]
    return f"Answer {key}: " + " ".join(f"w{key}x{i}" for i in range(36))


def shown_before_stall(question: str) -> str:
    return answer_for(question)[: STALL_AFTER * CHUNK]


class ClassFake(FakeAnthropic):
    """The fake Claude answering each question with ``answer_for`` it; a ``SLOW`` question's stream stalls."""

    async def _stream(self, request: web.Request, response: web.StreamResponse, recorded: RecordedRequest,
                      reply: Reply) -> Any:
        question = recorded.question
        cut = Cut("stall", after=STALL_AFTER) if SLOW in question else None
        mine = Reply(text=answer_for(question), chunk_chars=CHUNK, tokens_per_second=20, cut=cut)
        return await super()._stream(request, response, recorded, mine)


@dataclass
class Bot:
    """One ``coursebot`` process and the Slack connection it opened."""

    index: int
    process: asyncio.subprocess.Process
    log: Path
    connection: slack_emulator.Connection | None = None

    def tail(self) -> str:
        return f"--- process {self.index} ---\n" + "".join(self.log.read_text().splitlines(True)[-30:])


class Database:
    """What the bots stored, read over a connection of the test's own."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.connection.fetch(sql, *args)

    async def value(self, sql: str, *args: Any) -> Any:
        return await self.connection.fetchval(sql, *args)


@dataclass
class DiscordLab:
    learner: discord_emulator.User
    guild: discord_emulator.Guild
    question: str
    thread_id: int = 0


@dataclass
class SlackLab:
    user: str
    channel: str
    question: str
    thread_ts: str = ""


def _question(key: str, slow: bool) -> str:
    return f"{key}: how does streaming show the first words at once?" + (f" {SLOW}" if slow else "")


@dataclass
class World:
    """The emulated platforms with the class in them (made before the bots start: the Discord emulator tells
    a shard about the guilds that exist when it connects), the fake Claude, the database and the bots."""

    discord: DiscordEmulator
    slack: SlackEmulator
    fake: ClassFake
    db: Database
    bots: list[Bot]
    discord_labs: list[DiscordLab]
    slack_labs: list[SlackLab]
    quiz_guilds: list[discord_emulator.Guild]  # one per shard
    discord_clickers: list[discord_emulator.User]
    slack_clickers: list[str]

    @classmethod
    def populated(cls, discord: DiscordEmulator, slack: SlackEmulator, fake: ClassFake, db: Database) -> World:
        guilds = discord.add_guilds(GUILDS, shard_count=PROCESSES)  # dealt round the shards: 0, 1, 2, 0, 1, 2
        discord_labs = []
        for n in range(LABS):
            guild = guilds[n % GUILDS]
            slow = discord_emulator.shard_of(guild.id, PROCESSES) == VICTIM
            discord_labs.append(DiscordLab(discord.add_user(f"dlearner{n}", guild_id=guild.id), guild,
                                           _question(f"d{n}", slow)))
        slack_labs = []
        for n in range(LABS):
            user = slack.add_user(f"USLAB{n:03d}", f"slearner{n}").id
            channel = SLACK_CHANNELS[n % len(SLACK_CHANNELS)]
            slack_labs.append(SlackLab(user, channel, _question(f"s{n}", n < SLOW_ON_SLACK)))
        quiz_guilds = guilds[:PROCESSES]
        discord_clickers = [discord.add_user(f"dclicker{c}", guild_id=quiz_guilds[c % PROCESSES].id)
                            for c in range(CLICKERS)]
        slack_clickers = [slack.add_user(f"UCLICK{c:03d}", f"sclicker{c}").id for c in range(CLICKERS)]
        return cls(discord, slack, fake, db, [], discord_labs, slack_labs, quiz_guilds, discord_clickers,
                   slack_clickers)

    async def until(self, ready: Callable[[], Any], what: str | Callable[[], str], timeout: float = 60.0) -> Any:
        """Wait for ``ready()`` (sync or async) to be truthy; fail with the bots' logs if a live bot exits or the
        generous ``timeout`` (a hang, not a speed limit) runs out."""
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            dead = [b for b in self.bots if b.process.returncode is not None and b.index != VICTIM]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(b.tail() for b in self.bots)
                what = what if isinstance(what, str) else what()
                raise AssertionError(f"{'a bot exited' if dead else 'timed out'} waiting for {what}\n{logs}")
            await asyncio.sleep(0.05)

    def owner(self, claim_owner: str) -> Bot:
        """The process named by a claim's owner (``host:pid:random``)."""
        pid = int(claim_owner.split(":")[1])
        return next(b for b in self.bots if b.process.pid == pid)


def _environment(discord: DiscordEmulator, slack: SlackEmulator, fake: FakeAnthropic, dsn: str, redis_url: str,
                 index: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COURSEBOT_", "DISCORD_", "SLACK_"))}
    env.update(
        COURSEBOT_DB=dsn, COURSEBOT_REDIS_URL=redis_url, COURSEBOT_CONTENT=str(CONTENT), COURSEBOT_LOG_LEVEL="INFO",
        COURSEBOT_SHUTDOWN_GRACE="1", COURSEBOT_SHARD_COUNT=str(PROCESSES), COURSEBOT_SHARD_IDS=str(index),
        COURSEBOT_MAX_CONCURRENT_ANSWERS=str(2 * LABS),  # every lab streams at once: none waits for a slot
        COURSEBOT_READ_TIMEOUT="600",  # a slow answer stalls until it is stopped or its process is killed
        DISCORD_TOKEN=discord.token, DISCORD_API_BASE=discord.api_base, DISCORD_GATEWAY_URL=discord.gateway_url,
        SLACK_BOT_TOKEN=slack.bot_token, SLACK_APP_TOKEN=slack.app_token, SLACK_API_URL=slack.api_url,
        ANTHROPIC_API_KEY=fake.api_key, ANTHROPIC_BASE_URL=fake.url,
    )
    return env


async def _start_bots(world: World, env: Callable[[int], dict[str, str]], tmp_path: Path) -> None:
    """Start the processes one after the other (the next once the last has its Slack connection, so that each
    connection is known to be its process's), then wait until every shard is ready."""
    for index in range(PROCESSES):
        folder = tmp_path / f"bot{index}"  # the heartbeat file goes to the working directory
        folder.mkdir()
        log = folder / "bot.log"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the bot
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", env=env(index), cwd=folder, stdout=out, stderr=out)
        bot = Bot(index, process, log)
        world.bots.append(bot)
        known = {c.number for c in world.slack.connections}
        [bot.connection] = await world.until(
            lambda: [c for c in world.slack.connections if c.number not in known],  # noqa: B023
            f"process {index}'s Slack connection")
    await world.until(lambda: all("Discord: logged in as" in b.log.read_text() for b in world.bots),
                      "every shard ready")
    assert sorted(s.shard for s in world.discord.sessions) == [(i, PROCESSES) for i in range(PROCESSES)]


@pytest.fixture
async def world(postgres_dsn: str, redis_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with (DiscordEmulator(shard_count=PROCESSES) as discord, SlackEmulator(seed=10) as slack,
                ClassFake() as fake):
        connection = await asyncpg.connect(postgres_dsn)
        world = World.populated(discord, slack, fake, Database(connection))
        try:
            await _start_bots(world, lambda i: _environment(discord, slack, fake, postgres_dsn, redis_url, i),
                              tmp_path)
            yield world
        finally:
            await _stop(world.bots)
            await connection.close()


async def _stop(bots: list[Bot]) -> None:
    for bot in bots:
        if bot.process.returncode is None:
            bot.process.send_signal(signal.SIGTERM)
    for bot in bots:
        try:
            await asyncio.wait_for(bot.process.wait(), 20)
        except TimeoutError:
            bot.process.kill()
            await bot.process.wait()


# -- the class -----------------------------------------------------------------------------------------------


async def _open_discord_labs(world: World) -> None:
    emu = world.discord
    commands = [await emu.slash(lab.learner, "lab", channel_id=lab.guild.general, number=1)
                for lab in world.discord_labs]

    def threads() -> list[int] | None:
        replies = [next((m for m in c.replies if not m.data["flags"] & LOADING), None) for c in commands]
        found = [re.search(r"<#(\d+)>", r.content) if r else None for r in replies]
        return [int(f[1]) for f in found] if all(found) else None  # type: ignore[index]

    for lab, thread_id in zip(world.discord_labs, await world.until(threads, "the Discord lab threads"), strict=True):
        lab.thread_id = thread_id


async def _open_slack_labs(world: World) -> None:
    labs = world.slack_labs
    await asyncio.gather(*(world.slack.slash("/lab", "1", user=lab.user, channel=lab.channel) for lab in labs))
    keys = dict(await world.until(lambda: _slack_threads(world.db), "the Slack lab threads"))
    for lab in labs:
        lab.thread_ts = keys[lab.user].partition(":")[2]


async def _slack_threads(db: Database) -> list[tuple[str, str]] | None:
    rows = await db.rows("SELECT l.user_id, t.thread_key FROM lab_threads t JOIN learners l ON l.id = t.learner_id"
                         " WHERE t.platform = 'slack'")
    return [(r[0], r[1]) for r in rows] if len(rows) == LABS else None


@dataclass
class Clicks:
    """The quiz clicks of both platforms and what came of them."""

    discord: list[tuple[discord_emulator.Interaction, str, str]]  # (interaction, learner id, question id)
    slack: list[tuple[str, str]]  # (learner id, question id), each acked
    acked_on_slack: list[int]


async def _quizzes(world: World) -> tuple[list[discord_emulator.Message], slack_emulator.Message]:
    """A quiz message in one guild of each shard, and one in Slack."""
    emu, slack = world.discord, world.slack
    posted = [await emu.slash(world.discord_clickers[g], "quiz", channel_id=guild.general, number=1)
              for g, guild in enumerate(world.quiz_guilds)]
    quizzes = [(await emu.responded(p, timeout=30))[0] for p in posted]
    await slack.slash("/quiz", "1", user=world.slack_clickers[0], channel=QUIZ_CHANNEL)
    [slack_quiz] = await world.until(lambda: slack.channel_messages(QUIZ_CHANNEL), "the Slack quiz")
    return quizzes, slack_quiz


async def _click_at_rate(world: World, quizzes: list[discord_emulator.Message],
                         slack_quiz: slack_emulator.Message) -> Clicks:
    """Every learner answers every question of the quiz; the clicks alternate between the platforms and leave
    at ``CLICK_RATE`` a second (each Slack click completes when a process acks it)."""
    clicks = Clicks([], [], [])
    plan: list[Callable[[], Coroutine[Any, Any, None]]] = []
    for q, question in enumerate(QUIZ.questions):
        for c in range(CLICKERS):
            option = (c + q) % len(question.options)
            learner, quiz = world.discord_clickers[c], quizzes[c % PROCESSES]

            async def on_discord(learner: Any = learner, quiz: Any = quiz, q: int = q, option: int = option) -> None:
                interaction = await world.discord.click(learner, quiz, option_id(quiz, q, option))
                clicks.discord.append((interaction, str(learner.id), QUIZ.questions[q].id))

            async def on_slack(user: str = world.slack_clickers[c], qid: str = question.id, option: int = option) -> None:
                status, _ = await world.slack.click(slack_quiz, user=user, value=f"{MODULE}:1:{qid}:{option}")
                clicks.acked_on_slack.append(status)
                clicks.slack.append((user, qid))

            plan += [on_discord, on_slack]
    start = time.monotonic()

    async def at(k: int, click: Callable[[], Coroutine[Any, Any, None]]) -> None:
        await asyncio.sleep(max(0.0, start + k / CLICK_RATE - time.monotonic()))
        await click()

    await asyncio.gather(*(at(k, click) for k, click in enumerate(plan)))
    return clicks


# -- what the learners see -------------------------------------------------------------------------------------


def _discord_final(world: World, lab: DiscordLab) -> bool:
    """The lab's one answer shows the model's text exactly, then only the footer, and no Stop button."""
    found = answers(world.discord, lab.thread_id)
    text = answer_for(lab.question)
    return bool(found) and not streaming(found[-1]) and found[-1].body.startswith(text) \
        and FOOTER.match(found[-1].body, len(text)) is not None


def _slack_replies(world: World, lab: SlackLab) -> list[slack_emulator.Message]:
    return world.slack.bot_replies(lab.channel, lab.thread_ts)


def _slack_final(world: World, lab: SlackLab) -> bool:
    found = _slack_replies(world, lab)
    return bool(found) and not found[-1].streaming \
        and found[-1].shown.startswith(answer_for(lab.question) + "\n\nTTFT ")


async def _claims(db: Database, platform: str) -> dict[str, asyncpg.Record]:
    """Each lab thread's answer claim (thread key -> id, owner, status, shown), one per thread."""
    rows = await db.rows("SELECT t.thread_key, a.id, a.owner, a.status, a.shown FROM lab_answers a"
                         " JOIN lab_threads t ON t.id = a.thread_id WHERE t.platform = $1", platform)
    keys = [r["thread_key"] for r in rows]
    assert len(keys) == len(set(keys)), f"a thread with two claims: {Counter(keys).most_common(3)}"
    return {r["thread_key"]: r for r in rows}


async def _stop_from_another_process(world: World, lab: SlackLab) -> None:
    """Press the answer's Stop over the Slack connection of a process other than the one streaming it."""
    slack = world.slack
    partial = shown_before_stall(lab.question)
    await world.until(lambda: [m for m in _slack_replies(world, lab) if m.shown.startswith(partial)],
                      f"{lab.user}'s slow answer to show its first words")
    [stop] = await world.until(lambda: [e for e in slack.ephemerals_for(lab.user) if buttons(e.blocks)],
                               f"{lab.user}'s Stop button")
    claim = (await _claims(world.db, "slack"))[f"{lab.channel}:{lab.thread_ts}"]
    assert claim["status"] == "streaming"
    streamer = world.owner(claim["owner"])
    other = world.bots[(streamer.index + 1) % PROCESSES]
    assert other.connection is not None and other.connection in slack.connections
    status, _ = await slack.click(stop, user=lab.user, action_id="lab:stop", to=other.connection)
    assert status == 200
    assert [e["retry_attempt"] for e in other.connection.envelopes
            if e["payload"].get("actions", [{}])[0].get("action_id") == "lab:stop"
            and e["payload"]["user"]["id"] == lab.user] == [0], "the other process took the click"

    def stopped() -> bool:
        [reply] = _slack_replies(world, lab)
        return not reply.streaming and reply.shown.startswith(f"{partial}\n\n{STOPPED}\n\nTTFT ")

    await world.until(stopped, f"{lab.user}'s answer to stop")


async def _kill(bot: Bot) -> float:
    bot.process.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    await bot.process.wait()
    assert bot.process.returncode == -signal.SIGKILL
    return time.monotonic()


async def test_three_processes_serve_one_class_on_both_platforms(world: World) -> None:
    discord_labs, slack_labs = world.discord_labs, world.slack_labs
    await _open_discord_labs(world)
    await _open_slack_labs(world)
    await world.until(lambda: world.db.value("SELECT count(*) = $1 FROM lab_threads", 2 * LABS),
                      "every lab thread recorded")
    quizzes, slack_quiz = await _quizzes(world)

    # The load: 60 questions at once, and the quiz clicks at 200 a second alongside.
    asked = [world.discord.say(lab.learner, lab.thread_id, lab.question) for lab in discord_labs]
    asked += [world.slack.say(lab.question, user=lab.user, channel=lab.channel, thread_ts=lab.thread_ts)
              for lab in slack_labs]
    clicking = asyncio.ensure_future(_click_at_rate(world, quizzes, slack_quiz))
    await asyncio.gather(*asked)
    clicks = await clicking

    # Every click acknowledged once and recorded once (the first answer per learner and question counts).
    await world.until(lambda: all(i.responses for i, _, _ in clicks.discord), "every Discord click acknowledged")
    assert all(len(i.responses) == 1 for i, _, _ in clicks.discord)
    assert clicks.acked_on_slack == [200] * CLICKERS * len(QUIZ.questions)
    expected = Counter([("discord", user, q) for _, user, q in clicks.discord] +
                       [("slack", user, q) for user, q in clicks.slack])
    assert len(expected) == 2 * CLICKERS * len(QUIZ.questions) and set(expected.values()) == {1}
    sql = "SELECT l.platform, l.user_id, a.question_id FROM quiz_answers a JOIN learners l ON l.id = a.learner_id"
    await world.until(lambda: world.db.value("SELECT count(*) >= $1 FROM quiz_answers", len(expected)),
                      "every click recorded")
    assert Counter(tuple(r) for r in await world.db.rows(sql)) == expected

    # Every answer that runs to its end shows the model's text exactly, once.
    fast_discord = [lab for lab in discord_labs if SLOW not in lab.question]
    fast_slack = [lab for lab in slack_labs if SLOW not in lab.question]
    await world.until(lambda: all(_discord_final(world, lab) for lab in fast_discord)
                      and all(_slack_final(world, lab) for lab in fast_slack),
                      lambda: "every final text; not yet: " + repr(
                          [(lab.question, [m.body for m in answers(world.discord, lab.thread_id)])
                           for lab in fast_discord if not _discord_final(world, lab)][:3]
                          + [(lab.question, [m.shown for m in _slack_replies(world, lab)])
                             for lab in fast_slack if not _slack_final(world, lab)][:3]))

    # A Stop arriving at a process that does not stream the answer stops it where it streams.
    for lab in slack_labs[:SLOW_ON_SLACK]:
        await _stop_from_another_process(world, lab)

    # The process of shard 2 dies while its answers stream; another repairs them from their last checkpoint.
    victim = world.bots[VICTIM]
    cut = [lab for lab in discord_labs if SLOW in lab.question]
    assert len(cut) == LABS // PROCESSES

    async def checkpointed() -> bool:
        claims = await _claims(world.db, "discord")
        return all(claims[str(lab.thread_id)]["shown"] == shown_before_stall(lab.question) for lab in cut)

    await world.until(checkpointed, "the victim's answers to checkpoint what they show")
    claims = await _claims(world.db, "discord")
    assert {world.owner(claims[str(lab.thread_id)]["owner"]).index for lab in cut} == {VICTIM}
    killed = await _kill(victim)
    assert all(streaming(answers(world.discord, lab.thread_id)[0]) for lab in cut), "cut mid-answer"

    def repaired() -> bool:
        return all([(m.body, bool(m.buttons())) for m in answers(world.discord, lab.thread_id)]
                   == [(f"{shown_before_stall(lab.question)}\n\n{INTERRUPTED}", False)] for lab in cut)

    # The bound: the lease runs out at most 10 s after the last renewal, then a sweep (every 3 s) of
    # a live process repairs the message.
    await world.until(repaired, "the cut answers to be repaired", timeout=RECONCILE_BOUND - (time.monotonic() - killed))
    turns = "SELECT t.thread_key, l.status FROM lab_turns l JOIN lab_threads t ON t.id = l.thread_id"
    await world.until(lambda: world.db.value("SELECT count(*) = $1 FROM lab_turns", 2 * LABS), "every turn recorded",
                      timeout=RECONCILE_BOUND - (time.monotonic() - killed))

    # Nothing lost, nothing doubled.
    statuses = dict(tuple(r) for r in await world.db.rows(turns))  # thread_key is unique per platform here
    assert len(statuses) == 2 * LABS, "one turn per lab thread"
    assert Counter(statuses.values()) == {"complete": 2 * LABS - len(cut) - SLOW_ON_SLACK,
                                          "stopped": SLOW_ON_SLACK, "interrupted": len(cut)}
    assert all(statuses[str(lab.thread_id)] == "interrupted" for lab in cut)
    assert await world.db.value("SELECT count(*) FROM lab_answers WHERE status = 'streaming'") == 0
    questions = Counter(r.question for r in world.fake.requests)
    assert questions == Counter(lab.question for lab in [*discord_labs, *slack_labs]), "one API request each"
    assert all(len(answers(world.discord, lab.thread_id)) == 1 for lab in discord_labs), "one answer per thread"
    assert all(len(_slack_replies(world, lab)) == 1 for lab in slack_labs), "one answer per thread"
    assert world.discord.rate_limited == 0
    assert sum(world.slack.throttled.values()) == 0, world.slack.throttled
    survivors = "".join(b.log.read_text() for b in world.bots if b is not victim)
    assert survivors.count("recovered a lab answer cut by a stopped process") == len(cut)
