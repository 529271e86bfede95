"""Benchmark: the class of tests/e2e/test_multi_process.py on 3 bot processes and on 1, at the same load (issue 10).

Each run starts real ``coursebot`` processes (``python -m bot``) on one PostgreSQL database (a durable server:
every commit flushed, tests/postgres.py ``start_server(durable=True)``) and one Redis, against the Discord and
Slack emulators (hosted by this script) and the fake Anthropic API (``bench_discord_class.run_api``, in a process
of its own, stamping each text delta). With ``--processes 3`` process i serves Discord shard i of 3 and holds one
Socket Mode connection of the Slack app; with 1, one process serves every guild and the one connection.

The load: 60 labs ask at once (30 on Discord over six guilds, 30 on Slack over three channels), answers of
``--tokens`` tokens at ``--rate`` tokens/s, while 600 quiz clicks leave at ``--click-rate`` a second (half on
each platform). Figures:

- Discord first text and staleness of the answers, as ``bench_discord_class.Answer`` defines them (message
  version times in the emulator, delta send times at the fake API); Slack's emulator keeps no time per message
  version, so Slack answers count only for exactness here;
- quiz-click acknowledgement: from the click leaving this script to the emulator seeing it acknowledged
  (Discord: the interaction callback arriving; Slack: the Socket Mode ack), p50 and p99 per platform; and on
  Discord the feedback shown (the callback carrying it, or the followup filling in a deferred response);
- 429s on both emulators and exact final texts.

Every figure is the median over ``--runs`` runs. Nothing is asserted.

    .venv/bin/python bench/bench_multi_process.py [--runs 3] [--processes 1 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_discord_class import (  # noqa: E402
    QUESTION,
    Answer,
    _body_of,
    _started,
    _terminate,
    _when,
    answer_text,
    percentile,
)
from bot.core.content.loader import load_course  # noqa: E402
from tests.emulators.discord import LOADING, DiscordEmulator, Message  # noqa: E402
from tests.emulators.slack import SlackEmulator  # noqa: E402
from tests.postgres import start_server, stop_server  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

API_KEY = "bench-key"
LABS = 30  # per platform
GUILDS = 6
CLICKERS = 100  # per platform; each answers every question of quiz 1
SHARDS = 3
CHANNELS = ("CLAB0", "CLAB1", "CLAB2")
COURSE = load_course(ROOT / "content")
MODULE = COURSE.modules[COURSE.default_module]
QUIZ = MODULE.quizzes[1]


class StampedDiscord(DiscordEmulator):
    """The Discord emulator noting when each interaction is acknowledged (its callback arrives) and when its
    reply shows text (the callback carries it, or the followup filling in a deferral)."""

    def __init__(self) -> None:
        super().__init__(shard_count=SHARDS)
        self.acked_at: dict[int, float] = {}
        self.shown_at: dict[int, float] = {}

    async def _callback(self, request: Any) -> Any:
        iid = int(request.match_info["iid"])
        self.acked_at.setdefault(iid, time.time())
        response = await super()._callback(request)
        self._stamp_shown(self.interactions.get(iid))
        return response

    async def _followup(self, request: Any) -> Any:
        response = await super()._followup(request)
        self._stamp_shown(self._interaction_by_token(request))
        return response

    def _stamp_shown(self, interaction: Any) -> None:
        if interaction is not None and any(not m.data["flags"] & LOADING for m in interaction.replies):
            self.shown_at.setdefault(interaction.id, time.time())


def _stop_button(data: dict[str, Any]) -> bool:
    return any(b.get("custom_id", "").startswith("cb:lab:stop:") for b in Message(data).buttons())


async def _until(ready: Any, what: str, bots: list[asyncio.subprocess.Process], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if any(bot.returncode is not None for bot in bots) or time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what} (bots' exit codes: {[b.returncode for b in bots]})")
        await asyncio.sleep(0.05)


async def run_case(args: argparse.Namespace, processes: int, dsn: str, redis_url: str, workdir: Path) -> dict[str, Any]:
    discord, slack = StampedDiscord(), SlackEmulator(seed=10)
    await discord.start()
    await slack.start()
    guilds = discord.add_guilds(GUILDS, shard_count=SHARDS)
    lab_learners = [discord.add_user(f"dlearner{n}", guild_id=guilds[n % GUILDS].id) for n in range(LABS)]
    clickers = [discord.add_user(f"dclicker{c}", guild_id=guilds[c % SHARDS].id) for c in range(CLICKERS)]
    slack_learners = [slack.add_user(f"USLAB{n:03d}", f"s{n}").id for n in range(LABS)]
    slack_clickers = [slack.add_user(f"UCLICK{c:03d}", f"c{c}").id for c in range(CLICKERS)]
    api = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "bench_discord_class.py"), "api", str(workdir / "api-url"),
        str(workdir / "stamps.json"), str(args.tokens), str(args.rate), str(args.delta_tokens),
        cwd=ROOT, stdout=subprocess.DEVNULL)
    bots: list[asyncio.subprocess.Process] = []
    try:
        await _started(api, workdir / "api-url", "the fake Anthropic API")
        for index in range(processes):
            folder = workdir / f"bot{index}"
            folder.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COURSEBOT_", "DISCORD_",
                                                                             "SLACK_"))}
            env.update(COURSEBOT_DB=dsn, COURSEBOT_REDIS_URL=redis_url, COURSEBOT_CONTENT=str(ROOT / "content"),
                       COURSEBOT_MAX_CONCURRENT_ANSWERS=str(2 * LABS), DISCORD_TOKEN=discord.token,
                       DISCORD_API_BASE=discord.api_base, DISCORD_GATEWAY_URL=discord.gateway_url,
                       SLACK_BOT_TOKEN=slack.bot_token, SLACK_APP_TOKEN=slack.app_token, SLACK_API_URL=slack.api_url,
                       ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=(workdir / "api-url").read_text())
            if processes > 1:
                env.update(COURSEBOT_SHARD_COUNT=str(processes), COURSEBOT_SHARD_IDS=str(index))
            with (folder / "bot.log").open("wb") as log:
                bots.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", env=env, cwd=folder, stdout=log, stderr=log))
        logs = [workdir / f"bot{i}" / "bot.log" for i in range(processes)]
        await _until(lambda: len(slack.connections) == processes
                     and all("Discord: logged in as" in log.read_text() for log in logs), "the bots", bots)

        # setup: the labs and the quizzes (not measured)
        commands = [await discord.slash(learner, "lab", channel_id=guilds[n % GUILDS].general, number=1)
                    for n, learner in enumerate(lab_learners)]
        await asyncio.gather(*(slack.slash("/lab", "1", user=user, channel=CHANNELS[n % len(CHANNELS)])
                               for n, user in enumerate(slack_learners)))

        def threads() -> list[int] | None:
            replies = [next((m for m in c.replies if not m.data["flags"] & LOADING), None) for c in commands]
            found = [re.search(r"<#(\d+)>", r.content) if r else None for r in replies]
            if not all(found) or not all(discord.channel_messages(int(f[1])) for f in found):  # type: ignore[index]
                return None
            return [int(f[1]) for f in found]  # type: ignore[index]

        thread_ids = await _until(threads, "the Discord lab threads", bots)
        parents = await _until(lambda: _slack_threads(dsn), "the Slack lab threads", bots)
        quizzes = [(await discord.responded(await discord.slash(clickers[g], "quiz", channel_id=guilds[g].general,
                                                                number=1), timeout=60))[0] for g in range(SHARDS)]
        await slack.slash("/quiz", "1", user=slack_clickers[0], channel="CQUIZ")
        [slack_quiz] = await _until(lambda: slack.channel_messages("CQUIZ"), "the Slack quiz", bots)
        await asyncio.sleep(2.0)  # the windows the setup used empty

        # the load
        existing = set(discord.messages)
        asked = [0.0] * LABS
        slack_acks: list[float] = []
        discord_clicks: list[tuple[int, float]] = []

        async def ask(n: int) -> None:
            asked[n] = time.time()
            await discord.say(lab_learners[n], thread_ids[n], QUESTION.format(n))

        async def ask_slack(n: int) -> None:
            channel, ts = parents[slack_learners[n]]
            await slack.say(QUESTION.format(LABS + n), user=slack_learners[n], channel=channel, thread_ts=ts)

        plan = []
        for q, question in enumerate(QUIZ.questions):
            for c in range(CLICKERS):
                option = (c + q) % len(question.options)
                plan.append(("discord", clickers[c], quizzes[c % SHARDS], f":{question.id}:{option}"))
                plan.append(("slack", slack_clickers[c], slack_quiz, f"{MODULE.number}:1:{question.id}:{option}"))
        start = time.monotonic()

        async def click(k: int, where: str, user: Any, quiz: Any, value: str) -> None:
            await asyncio.sleep(max(0.0, start + k / args.click_rate - time.monotonic()))
            sent = time.time()
            if where == "discord":
                custom_id = next(b["custom_id"] for b in quiz.buttons() if b["custom_id"].endswith(value))
                interaction = await discord.click(user, quiz, custom_id)
                discord_clicks.append((interaction.id, sent))
            else:
                await slack.click(quiz, user=user, value=value)
                slack_acks.append(time.time() - sent)

        await asyncio.gather(*(ask(n) for n in range(LABS)), *(ask_slack(n) for n in range(LABS)),
                             *(click(k, *step) for k, step in enumerate(plan)))
        texts = [answer_text(n, args.tokens) for n in range(2 * LABS)]

        def answer_messages(n: int) -> list[Any]:
            return [m for m in discord.channel_messages(thread_ids[n])
                    if m.id not in existing and m.data["author"]["id"] == str(discord.bot.id)]

        def slack_done(n: int) -> bool:
            channel, ts = parents[slack_learners[n]]
            replies = slack.bot_replies(channel, ts)
            return bool(replies) and not replies[-1].streaming and replies[-1].shown.startswith(texts[LABS + n])

        def finished() -> bool:
            return all(any(m.body.startswith(texts[n] + "\n\n") and not _stop_button(m.data)
                           for m in answer_messages(n)) for n in range(LABS)) \
                and all(slack_done(n) for n in range(LABS))

        await _until(finished, "every final text", bots)
        await _until(lambda: len(discord.shown_at) >= len(discord_clicks), "every click's feedback", bots)
    finally:
        for bot in bots:
            await _terminate(bot)
        await _terminate(api)
        await discord.stop()
        await slack.close()

    stamps = json.loads((workdir / "stamps.json").read_text())["deltas"]
    answers = []
    for n in range(LABS):
        mine = [m for m in answer_messages(n) if any(body.startswith(texts[n][:20]) for body in m.bodies)]
        answer = Answer(asked[n], texts[n], [tuple(d) for d in stamps.get(str(n), [])])
        if mine:
            answer.versions = [(_when(v), _body_of(v), _stop_button(v)) for v in mine[0].versions]
        answers.append(answer)
    firsts = [f for a in answers if (f := a.first_text()) is not None]
    stale = [s for a in answers for s in a.staleness() if s is not None]
    discord_acks = [discord.acked_at[i] - sent for i, sent in discord_clicks if i in discord.acked_at]
    discord_shown = [discord.shown_at[i] - sent for i, sent in discord_clicks if i in discord.shown_at]
    return {
        "processes": processes,
        "discord_first_text_s": {"p95": round(percentile(firsts, 0.95), 3), "mean": round(statistics.fmean(firsts), 3)},
        "discord_staleness_mean_s": round(statistics.fmean(stale), 3),
        "click_ack_ms": {
            "discord": {"p50": round(percentile(discord_acks, 0.5) * 1000, 1),
                        "p99": round(percentile(discord_acks, 0.99) * 1000, 1)},
            "discord_feedback": {"p50": round(percentile(discord_shown, 0.5) * 1000, 1),
                                 "p99": round(percentile(discord_shown, 0.99) * 1000, 1)},
            "slack": {"p50": round(percentile(slack_acks, 0.5) * 1000, 1),
                      "p99": round(percentile(slack_acks, 0.99) * 1000, 1)},
        },
        "clicks": len(discord_acks) + len(slack_acks),
        "status_429": discord.rate_limited + sum(slack.throttled.values()),
        "discord_exact": sum(a.exact() for a in answers),
    }


async def _slack_threads(dsn: str) -> dict[str, tuple[str, str]] | None:
    """Each Slack learner's lab thread (channel, parent ts), once all of them are recorded."""
    db = await asyncpg.connect(dsn)
    try:
        rows = await db.fetch("SELECT l.user_id, t.thread_key FROM lab_threads t JOIN learners l"
                              " ON l.id = t.learner_id WHERE t.platform = 'slack'")
    finally:
        await db.close()
    found = {user: tuple(key.split(":", 1)) for user, key in rows}
    return found if len(found) == LABS else None  # type: ignore[return-value]


def _median(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second")
    parser.add_argument("--delta-tokens", type=int, default=5)
    parser.add_argument("--click-rate", type=float, default=200.0, help="quiz clicks per second, both platforms")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()}", flush=True)
    server, redis_server = start_server(durable=True), RedisServer()
    redis_server.start()
    try:
        for processes in args.processes:
            runs = []
            for _ in range(args.runs):
                dsn = asyncio.run(server.create_database())
                redis_server.flush()
                with tempfile.TemporaryDirectory(prefix="bench-multi-") as folder:
                    run = asyncio.run(run_case(args, processes, dsn, redis_server.url, Path(folder)))
                asyncio.run(server.drop_database(dsn))
                runs.append(run)
                print(json.dumps(run), flush=True)
            print(f"{processes} process(es), median of {len(runs)}: Discord first text p95 "
                  f"{_median(runs, 'discord_first_text_s', 'p95')} s, staleness "
                  f"{_median(runs, 'discord_staleness_mean_s')} s; click ack p99 Discord "
                  f"{_median(runs, 'click_ack_ms', 'discord', 'p99')} ms (feedback shown "
                  f"{_median(runs, 'click_ack_ms', 'discord_feedback', 'p99')} ms), Slack "
                  f"{_median(runs, 'click_ack_ms', 'slack', 'p99')} ms; 429s {_median(runs, 'status_429')}",
                  flush=True)
    finally:
        stop_server(server)
        redis_server.remove()


if __name__ == "__main__":
    main()
