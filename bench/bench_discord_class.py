"""Benchmark: a live Discord class at once, the REAL bot against the Discord emulator (issue 9).

Three processes per case, as in production: the bot (``bot.serve.serve(settings, platforms=("discord",))``,
imported from ``--tree``, so the same script measures an older checkout), the Discord emulator
(``tests/emulators/discord.py``: Discord's per-channel and 50/s global limits with real 429s), which this
process hosts and drives, and the fake Anthropic API (``tests/emulators/anthropic.py``) in a process of its
own. The emulators always come from this script's tree: both bots are measured against the same limits.

A case: N learners each run ``/lab number:1`` and get their lab thread (setup, not measured: the bot's own
flow, paced by its own global budget); two seconds later all of them ask within ``--ramp`` seconds, spread
evenly (a MESSAGE_CREATE in their thread; the question carries the learner's number). Each answer is
``--tokens`` tokens of 4 characters at ``--rate`` tokens/s, ``--delta-tokens`` per SSE text delta (250 at 40/s,
5 per delta: 50 deltas of 20 characters, one every 0.125 s); every learner gets a different text. The case
ends when every answer shows its final text with no Stop button and no request has arrived for 2 s.

Figures, from the emulator's request log and the versions it keeps of every message (each version's
``timestamp`` / ``edited_timestamp``: when the emulator applied the create or the edit, i.e. when Discord would
show it), and from the fake API's send time of every text delta (stamped by this script around its writes):
- requests per answer: every REST request the bot made from the first question to the end, divided by N, by
  kind (message create, message edit, typing, other), 429s included; "not answer text" is every request that
  did not change the answer's visible text (typing, status lines, progress messages, edits that only take a
  button off, 429s); next to it the fewest any design could make under the run's answer cap
  (``bench/floors.py`` ``fewest_requests``: every answer streamed, or every answer shown only once complete).
- first text: question (the MESSAGE_CREATE leaving the emulator) -> the first version of the answer's message
  that shows answer text (p95 / max / mean over the answers). Time queued for an answer slot counts.
- staleness: for each text delta, its send time at the fake API -> the first message version showing all of
  the answer up to the end of that delta (trailing whitespace aside); the mean over every delta of every
  answer. This is ``bench_streaming``'s definition ("each delta's send time -> the first request containing it
  completed"), measured where the learner sees it (the emulator applying the request) rather than where the
  bot reads the response, a difference of one loopback response.
- exact: the answer message's last version is the model's text exactly, followed only by the bot's appended
  paragraphs (the footer: timing and the lab's progress), with no Stop button left.
- 429s by bucket and request kind (the emulator's global bucket is a fixed 1 s window from its first request),
  the busiest second of requests arriving at the emulator (against Discord's 50/s, which the bot paces from
  each request's response: ``bot/discord_app.py``) and what it held, the bot process's CPU during the answer
  phase, the load average at start.

An answer of 1,000 characters fits one message on both trees (2,000-character content before, a 4,096-character
embed after), so "the answer's message" is the one bot message created after the question whose text starts
with the answer; a case where that is not so is reported in ``unmatched``.

    .venv/bin/python bench/bench_discord_class.py --labs 20 100 500 --runs 3 [--tree PATH --label before]
        [--lift-cap] [--out results.jsonl]

``--lift-cap`` sets ``COURSEBOT_MAX_CONCURRENT_ANSWERS`` to N (the default, 100 answers streaming at once per
process, queues the rest); a tree whose settings do not know a variable runs without it, and the case says so
(``dropped_settings``). Nothing under ``--tree`` is modified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHARS_PER_TOKEN = 4
CURSOR = " ▌"
API_KEY = "bench-key"
QUESTION = "How does streaming show the first words at once? (learner {})"
LEARNER = re.compile(r"\(learner (\d+)\)")
GUILD_READY_SECONDS = 2.0  # CourseBot.guild_ready_seconds in production: discord.py's wait after READY
QUIET_SECONDS = 2.0


def answer_text(learner: int, tokens: int) -> str:
    """A tutor-like answer of ``tokens`` 4-character tokens, different for every learner, plain prose (nothing
    the bot would rewrite: no links, no mentions, no Markdown), ending in a full stop."""
    rng = random.Random(learner)
    words = ["the", "stream", "sends", "each", "token", "as", "soon", "as", "it", "is", "ready", "so", "users",
             "see", "words", "early", f"lab{learner}"]
    parts: list[str] = []
    size = 0
    while size < tokens * CHARS_PER_TOKEN:
        word = rng.choice(words) + ("\n\n" if rng.random() < 0.03 else " ")
        parts.append(word)
        size += len(word)
    return "".join(parts)[: tokens * CHARS_PER_TOKEN - 1].rstrip() + "."


def learner_of(question: str) -> int:
    found = LEARNER.search(question)
    return int(found[1]) if found else -1


# -- the fake Anthropic API, in its own process -----------------------------------------------------------


def run_api(url_file: Path, stamps_file: Path, tokens: int, rate: float, delta_tokens: int) -> None:
    """Serve answers; on SIGTERM write each learner's delta send times (wall clock, with the characters sent so
    far) and how each stream ended, then exit."""
    from aiohttp import web

    from tests.emulators.anthropic import FakeAnthropic, Reply

    sent: dict[int, list[tuple[float, int]]] = {}

    class StampedFake(FakeAnthropic):
        async def _start_stream(self, request: web.Request) -> web.StreamResponse:
            response = await super()._start_stream(request)
            body = await request.json()
            content = body["messages"][-1]["content"]
            question = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
            stamps = sent.setdefault(learner_of(question), [])
            write = response.write
            chars = 0

            async def stamped_write(data: bytes) -> None:
                nonlocal chars
                if b'"text_delta"' in data:
                    line = next(x for x in data.decode().splitlines() if x.startswith("data: "))
                    chars += len(json.loads(line[6:])["delta"]["text"])
                    stamps.append((time.time(), chars))
                await write(data)

            response.write = stamped_write  # type: ignore[method-assign]
            return response

    async def main() -> None:
        fake = StampedFake(api_key=API_KEY)
        fake.reply = Reply(
            text=lambda body: answer_text(learner_of(str(body["messages"][-1]["content"])), tokens),
            chunk_chars=CHARS_PER_TOKEN * delta_tokens,
            tokens_per_second=rate / delta_tokens,  # the fake paces deltas, one "token" each
        )
        await fake.start()
        url_file.write_text(fake.url)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        outcomes: dict[int, list[str]] = {}
        for request in fake.requests:
            outcomes.setdefault(learner_of(request.question), []).append(request.outcome)
        stamps_file.write_text(json.dumps({"deltas": sent, "outcomes": outcomes}))
        await fake.close()

    asyncio.run(main())


# -- the bot, in its own process, imported from the tree under test ---------------------------------------


def run_bot(tree: Path, settings_file: Path, info_file: Path) -> None:
    """``serve(settings, platforms=("discord",))`` from ``tree``; settings the tree does not know are dropped."""
    sys.path.insert(0, str(tree))
    import bot
    from bot.config import Settings, load_settings
    from bot.serve import serve

    overrides = json.loads(settings_file.read_text())
    known = {info.alias or name for name, info in Settings.model_fields.items()}
    settings = load_settings(**{k: v for k, v in overrides.items() if k in known})
    info_file.write_text(json.dumps({
        "bot_package": str(Path(bot.__file__).parent),
        "dropped_settings": sorted(set(overrides) - known),
        "answer_cap": getattr(settings, "max_concurrent_answers", None),  # None: the tree has no cap
    }))
    sys.exit(asyncio.run(serve(settings, platforms=("discord",))))


# -- one case ----------------------------------------------------------------------------------------------


def _when(version: dict[str, Any]) -> float:
    return datetime.fromisoformat(version["edited_timestamp"] or version["timestamp"]).timestamp()


def _shown(body: str, answer: str) -> int:
    """How many characters of ``answer`` the body shows (its common prefix with the answer; the cursor and
    anything appended after the answer do not count)."""
    body = body.removesuffix(CURSOR)
    low, high = 0, min(len(body), len(answer))
    while low < high:  # equal prefixes are monotone in their length: bisect on it
        middle = (low + high + 1) // 2
        if body[:middle] == answer[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _has_stop(data: dict[str, Any]) -> bool:
    """Whether a message (or one of its versions) still carries the Stop button (a finished answer may keep
    other buttons: its sources, 👍 and 👎)."""
    from tests.emulators.discord import Message

    return any(button.get("label") == "Stop" for button in Message(data).buttons())


@dataclass
class Answer:
    """One learner's answer as the emulator recorded it."""

    asked: float
    text: str
    deltas: list[tuple[float, int]]
    versions: list[tuple[float, str, bool]] = field(default_factory=list)  # (when, body, has a Stop button)
    messages: int = 0  # bot messages created in the thread after the question (any text)

    def first_text(self) -> float | None:
        return next((t - self.asked for t, body, _ in self.versions if _shown(body, self.text)), None)

    def staleness(self) -> list[float | None]:
        """Per delta: its send time -> the first version showing the answer up to its end (None: never)."""
        result: list[float | None] = []
        for sent_at, chars in self.deltas:
            need = len(self.text[:chars].rstrip())
            shown_at = next((t for t, body, _ in self.versions if _shown(body, self.text) >= need), None)
            result.append(None if shown_at is None else shown_at - sent_at)
        return result

    def exact(self) -> bool:
        if not self.versions:
            return False
        _, body, buttons = self.versions[-1]
        return not buttons and (body == self.text or body.startswith(self.text + "\n\n"))

    def text_requests(self) -> int:
        """Versions that changed the visible answer text (the create showing text, and text edits)."""
        count, previous = 0, None
        for _, body, _ in self.versions:
            if body != previous and _shown(body, self.text):
                count += 1
            previous = body
        return count


def _kind(method: str, path: str) -> str:
    if re.fullmatch(r"/api/v10/channels/\d+/messages", path) and method == "POST":
        return "create"
    if re.fullmatch(r"/api/v10/channels/\d+/messages/\d+", path) and method == "PATCH":
        return "edit"
    if re.fullmatch(r"/api/v10/channels/\d+/typing", path):
        return "typing"
    return "other"


async def _wait(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _started(process: asyncio.subprocess.Process, ready: Path, what: str) -> None:
    for _ in range(300):
        if ready.exists() and ready.read_text():
            return
        if process.returncode is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


async def _terminate(process: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()


class _StampedLog(list[tuple[str, str, Any]]):
    """The emulator's request log, noting when each request arrived (wall clock) beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: tuple[str, str, Any]) -> None:
        self.times.append(time.time())
        super().append(item)


def _emulator() -> Any:
    """The Discord emulator, with its request log stamped and each 429 noted by bucket and request kind (the
    emulator itself only counts them)."""
    from aiohttp import web

    from tests.emulators.discord import DiscordEmulator

    class Recording(DiscordEmulator):
        def __init__(self) -> None:
            super().__init__()
            self.requests = _StampedLog()
            self.limited_by: list[tuple[float, str]] = []  # (when, bucket and request kind)

        def _too_many(self, bucket: Any, name: str, scope: str, now: float) -> web.Response:
            method, path, _ = self.requests[-1]
            self.limited_by.append((time.time(), f"{name.split('-')[0]} bucket, {_kind(method, path)}"))
            return super()._too_many(bucket, name, scope, now)

    return Recording()


async def run_case(args: argparse.Namespace, labs: int, workdir: Path) -> dict[str, Any]:
    from tests.emulators.discord import LOADING

    emulator = _emulator()
    await emulator.start()
    learners = [emulator.add_user(f"learner{i}") for i in range(labs)]
    api = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "api", str(workdir / "api-url"), str(workdir / "stamps.json"),
        str(args.tokens), str(args.rate), str(args.delta_tokens), cwd=ROOT, stdout=subprocess.DEVNULL)
    bot: asyncio.subprocess.Process | None = None
    try:
        await _started(api, workdir / "api-url", "the fake Anthropic API")
        overrides: dict[str, Any] = {
            "DISCORD_TOKEN": emulator.token, "DISCORD_API_BASE": emulator.api_base,
            "DISCORD_GATEWAY_URL": emulator.gateway_url, "DISCORD_GUILD_ID": emulator.guild_id,
            "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": (workdir / "api-url").read_text(),
            "COURSEBOT_DB": str(workdir / "bot.db"), "COURSEBOT_CONTENT": str(args.tree / "content"),
            "COURSEBOT_LOG_LEVEL": "INFO", "SLACK_BOT_TOKEN": None,
        }
        if args.lift_cap:
            overrides["COURSEBOT_MAX_CONCURRENT_ANSWERS"] = labs
        (workdir / "settings.json").write_text(json.dumps(overrides))
        with (workdir / "bot.log").open("wb") as log:
            bot = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "bot", str(args.tree), str(workdir / "settings.json"),
                str(workdir / "bot-info.json"), cwd=workdir, stdout=log, stderr=log)
        await _started(bot, workdir / "bot-info.json", "the bot")
        await _wait(lambda: emulator.identified and emulator.commands, 60, "the bot to connect")
        await asyncio.sleep(2 * GUILD_READY_SECONDS)

        # setup: every learner opens a lab thread through the bot's own /lab
        setup_start = time.monotonic()
        commands = [await emulator.slash(learner, "lab", number=1) for learner in learners]

        def threads() -> list[int] | None:
            greeted = _bot_messages(emulator)
            found = []
            for command in commands:
                reply = next((m for m in command.replies if not m.data["flags"] & LOADING), None)
                thread = re.search(r"<#(\d+)>", reply.content) if reply else None
                if thread is None or int(thread[1]) not in greeted:
                    return None
                found.append(int(thread[1]))
            return found

        await _wait(threads, 60 + labs * 0.5, "every lab thread and its greeting")
        thread_ids = threads() or []
        setup_s = time.monotonic() - setup_start
        await asyncio.sleep(2.0)  # the global window empties

        # the class asks, all within the ramp
        mark, limited = len(emulator.requests), len(emulator.limited_by)
        existing = set(emulator.messages)
        texts = [answer_text(i, args.tokens) for i in range(labs)]
        asked: list[float] = [0.0] * labs
        load = os.getloadavg()
        cpu_start, phase_start = _cpu_seconds(bot.pid), time.monotonic()

        async def ask(i: int) -> None:
            await asyncio.sleep(args.ramp * i / labs)
            asked[i] = time.time()
            await emulator.say(learners[i], thread_ids[i], QUESTION.format(i))

        await asyncio.gather(*(ask(i) for i in range(labs)))

        def finished() -> bool:  # polled: one pass over the messages, so the emulator it shares a loop with keeps up
            answered = _bot_messages(emulator, existing)
            return all(any(not _has_stop(m.data) and m.body.startswith(texts[i]) for m in answered.get(thread, []))
                       for i, thread in enumerate(thread_ids))

        timed_out = False
        try:
            await _wait(finished, 60 + labs * 0.6, "every final text", interval=0.25)
        except TimeoutError:
            timed_out = True
        await _quiet(emulator)
        cpu_s, phase_s = _cpu_seconds(bot.pid) - cpu_start, time.monotonic() - phase_start - QUIET_SECONDS
        info = json.loads((workdir / "bot-info.json").read_text())
    finally:
        if bot is not None:
            await _terminate(bot)
        await _terminate(api)
        await emulator.stop()

    api_log = json.loads((workdir / "stamps.json").read_text())
    answers, unmatched = [], 0
    answered = _bot_messages(emulator, existing)
    for i in range(labs):
        mine = answered.get(thread_ids[i], [])
        with_text = [m for m in mine if any(_shown(body, texts[i]) for body in m.bodies)]
        unmatched += len(with_text) != 1
        answer = Answer(asked[i], texts[i], [tuple(d) for d in api_log["deltas"].get(str(i), [])], messages=len(mine))
        if with_text:
            answer.versions = [(_when(v), _body_of(v), _has_stop(v)) for v in with_text[0].versions]
        answers.append(answer)
    requests = emulator.requests[mark:]
    return summarize(labs, answers, requests, emulator.requests.times[mark:], emulator.limited_by[limited:], {
        "tree": str(args.tree), "label": args.label, "lift_cap": args.lift_cap, **info, "setup_s": round(setup_s, 1),
        "unmatched": unmatched, "timed_out": timed_out, "bot_cpu_s": round(cpu_s, 2),
        "bot_cpu_share": round(cpu_s / phase_s, 2), "phase_s": round(phase_s, 1),
        "load_avg_1_5_15": [round(x, 2) for x in load],
        "api_outcomes": _count(o for outcomes in api_log["outcomes"].values() for o in outcomes),
        "requests_floor": _requests_floor(labs, info.get("answer_cap")),
    })


def _requests_floor(labs: int, cap: int | None) -> dict[str, float]:
    """The fewest requests an answer can cost under the run's answer cap (``bench/floors.py``): every answer
    streamed, or every answer shown only once complete."""
    from bench.floors import fewest_requests

    streaming = cap or labs
    return {"streamed": round(fewest_requests(labs, streaming, streamed=True), 2),
            "whole": round(fewest_requests(labs, streaming, streamed=False), 2)}


def _bot_messages(emulator: Any, skip: Collection[int] = ()) -> dict[int, list[Any]]:
    """The bot's visible messages by channel, oldest first, leaving out the ids in ``skip``."""
    found: dict[int, list[Any]] = {}
    bot = str(emulator.bot.id)
    for message in emulator.messages.values():
        if message.id not in skip and not message.ephemeral and not message.deleted \
                and message.data["author"]["id"] == bot:
            found.setdefault(message.channel_id, []).append(message)
    return found


def _body_of(version: dict[str, Any]) -> str:
    embeds = version.get("embeds") or []
    return version.get("content") or (embeds[0].get("description") or "" if embeds else "")


async def _quiet(emulator: Any) -> None:
    """Wait until no request has arrived for ``QUIET_SECONDS`` (progress lines and button removals land)."""
    seen, since = len(emulator.requests), time.monotonic()
    while time.monotonic() - since < QUIET_SECONDS:
        await asyncio.sleep(0.1)
        if len(emulator.requests) != seen:
            seen, since = len(emulator.requests), time.monotonic()


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(
    labs: int, answers: list[Answer], requests: list[tuple[str, str, Any]], times: list[float],
    limited: list[tuple[float, str]], extra: dict[str, Any],
) -> dict[str, Any]:
    kinds = _count(_kind(method, path) for method, path, _ in requests)
    firsts = [f for a in answers if (f := a.first_text()) is not None]
    stale = [s for a in answers for s in a.staleness()]
    shown = [s for s in stale if s is not None]
    text_requests = sum(a.text_requests() for a in answers)
    busiest, start, window = 0, 0, (0, 0)
    for end, t in enumerate(times):  # the most requests arriving within any 1 s
        while t - times[start] >= 1.0:
            start += 1
        if end - start + 1 > busiest:
            busiest, window = end - start + 1, (start, end + 1)
    first_asked = min(a.asked for a in answers)
    return {
        "labs": labs,
        "requests_per_answer": round(len(requests) / labs, 2),
        "per_answer_by_kind": {k: round(kinds.get(k, 0) / labs, 2) for k in ("create", "edit", "typing", "other")},
        "not_answer_text_per_answer": round((len(requests) - text_requests) / labs, 2),
        "messages_per_answer": round(sum(a.messages for a in answers) / labs, 2),
        "first_text_s": {"p95": round(percentile(firsts, 0.95), 3), "max": round(max(firsts), 3),
                         "mean": round(statistics.fmean(firsts), 3)} if firsts else None,
        "answers_without_text": labs - len(firsts),
        "staleness_mean_s": round(statistics.fmean(shown), 3) if shown else None,
        "deltas_never_shown": len(stale) - len(shown),
        "deltas": len(stale),
        "status_429": len(limited),
        "status_429_by": _count(kind for _, kind in limited),
        "first_429_s": round(min(t for t, _ in limited) - first_asked, 2) if limited else None,
        "exact": sum(a.exact() for a in answers),
        "busiest_second_requests": busiest,
        "busiest_second_s": round(times[window[0]] - first_asked, 2) if busiest else None,
        "busiest_second_by_kind": _count(_kind(method, path) for method, path, _ in requests[window[0]:window[1]]),
        **extra,
    }


# -- driver ------------------------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(value)
    return statistics.median(values) if values else None


def report(label: str, labs: int, runs: list[dict[str, Any]]) -> str:
    def m(*path: str) -> str:
        value = _median(runs, *path)
        return "-" if value is None else f"{value:g}"

    return (f"{label}, {labs} labs (median of {len(runs)}): requests/answer {m('requests_per_answer')} "
            f"(floor {m('requests_floor', 'streamed')} streamed, {m('requests_floor', 'whole')} shown whole) "
            f"(create {m('per_answer_by_kind', 'create')}, edit {m('per_answer_by_kind', 'edit')}, "
            f"typing {m('per_answer_by_kind', 'typing')}, other {m('per_answer_by_kind', 'other')}; "
            f"not answer text {m('not_answer_text_per_answer')}), first text p95/max/mean "
            f"{m('first_text_s', 'p95')}/{m('first_text_s', 'max')}/{m('first_text_s', 'mean')} s, "
            f"staleness {m('staleness_mean_s')} s, 429s {m('status_429')}, exact {m('exact')}/{labs}, "
            f"bot CPU {m('bot_cpu_share')} of a core, busiest second {m('busiest_second_requests')} requests")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "api":
        sys.path.insert(0, str(ROOT))
        run_api(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "bot":
        run_bot(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labs", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (medians are reported)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose bot/ and content/ to run")
    parser.add_argument("--label", default="after")
    parser.add_argument("--lift-cap", action="store_true", help="COURSEBOT_MAX_CONCURRENT_ANSWERS = N")
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second")
    parser.add_argument("--delta-tokens", type=int, default=5)
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds over which the questions are asked")
    parser.add_argument("--out", type=Path, help="append each run's figures to this JSON-lines file")
    parser.add_argument("--logs", type=Path, help="keep each case's bot log in this folder")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # one run in this process
    args = parser.parse_args()
    args.tree = args.tree.resolve()
    sys.path.insert(0, str(ROOT))
    if args.case is not None:
        with tempfile.TemporaryDirectory(prefix="bench-discord-class-") as folder:
            log = Path(folder) / "bot.log"
            try:
                print(json.dumps(asyncio.run(run_case(args, args.case, Path(folder)))))
            except Exception:
                if log.exists():  # why the bot did not get there
                    print("".join(log.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
                raise
            finally:
                if args.logs is not None and log.exists():
                    args.logs.mkdir(parents=True, exist_ok=True)
                    shutil.copy(log, args.logs / f"{args.label}-{args.case}-{time.strftime('%H%M%S')}.log")
        return
    for labs in args.labs:
        runs = []
        for _ in range(args.runs):
            done = subprocess.run([sys.executable, __file__, *_without_lists(sys.argv[1:]), "--case", str(labs)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                raise SystemExit(f"the {labs}-lab case failed")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(json.dumps(run), flush=True)
            if args.out is not None:
                with args.out.open("a") as out:
                    out.write(json.dumps(run) + "\n")
        print(report(args.label, labs, runs), flush=True)


def _without_lists(argv: list[str]) -> list[str]:
    """The command line without ``--labs`` and ``--runs`` and their values (a case is one N, one run)."""
    kept, skip = [], False
    for arg in argv:
        if arg in ("--labs", "--runs"):
            skip = True
            continue
        if skip and arg.lstrip("-").isdigit() and not arg.startswith("--"):
            continue
        skip = False
        kept.append(arg)
    return kept


if __name__ == "__main__":
    main()
