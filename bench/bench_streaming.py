"""Benchmark: many concurrent Claude answers streamed into rate-limited chat messages.

Each case runs in its own process (clean CPU and RSS figures): N answers of ``--tokens`` tokens at ``--rate``
tokens/s come from the fake Anthropic server (tests/emulators/anthropic.py, run in a separate process and
read through the real ``anthropic`` SDK) or, with ``--source generator``, from an in-process token clock.
Each answer goes through a ``ProgressiveMessage`` into a sink that enforces Discord's or Slack's limits
(tests/limit_sinks.py) with ``--latency`` per request; on Discord the pacer hears of each response, as
production's does. Answers start spread over a ramp (``--ramp``; by default Discord starts 12.5 answers a
second, so first posts and final edits use half the global budget) so the figures describe steady concurrency
rather than one thundering herd.

Measured, per case (``min_requests_per_s_needed`` > ``requests_per_s_allowed`` means the platform cannot
carry that many answers at that size at all: a backlog builds whatever the pacing):
- added first-visible latency: first delta leaving the source -> the engine issuing the post (p50, p99);
  the platform's own request latency comes on top and is not the bot's doing. ``engine_first_post`` is the
  engine's part alone: the first ``update()`` -> the post.
- staleness: each delta's send time -> the first request containing it completed (mean), next to the best
  any scheduler could reach under the platform's own limits (``staleness_floor``, ``bench/floors.py``: each
  answer's requests spread evenly, the shared budgets divided evenly); first visible next to its floor too
  (every first post at the earliest moment the shared budget allows, in the order asked).
- edits per message, 429s, CPU seconds per 1000 tokens and CPU share of one core, peak RSS, event-loop lag.

    .venv/bin/python bench/bench_streaming.py [--quick] [--streams 1 100 500] [--platform discord slack]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floors import Budget, first_text_floor, requests_per_answer, staleness_floor, window_capacity
from bot.core.streaming import Pacer, ProgressiveMessage
from bot.core.streaming.pacing import RateLimits
from bot.discord_app import PACING as DISCORD_PACING
from bot.runtime import settle_heap
from bot.slack.pacing import STREAM_LIMITS as SLACK_PACING
from tests.limit_sinks import DISCORD, SLACK, EmulatedPlatform, PlatformLimits

T = TypeVar("T")
CHARS_PER_TOKEN = 4  # one token of answer text is 4 characters
CURSOR = " ▌"
API_KEY = "bench-key"
# The platforms' limits (enforced by the limit sinks) and the pacing the bot runs against them in production.
PLATFORMS: dict[str, tuple[PlatformLimits, RateLimits]] = {
    "discord": (DISCORD, DISCORD_PACING),
    "slack": (SLACK, SLACK_PACING),
}


def answer_text(tokens: int) -> str:
    """Prose of ``tokens`` 4-character tokens, with paragraph breaks, like a tutor's answer."""
    rng = random.Random(7)
    words = ["the", "stream", "sends", "each", "token", "as", "soon", "as", "it", "is", "ready", "so", "users"]
    text = []
    size = 0
    while size < tokens * CHARS_PER_TOKEN:
        word = rng.choice(words) + ("\n\n" if rng.random() < 0.03 else " ")
        text.append(word)
        size += len(word)
    return "".join(text)[: tokens * CHARS_PER_TOKEN]


# -- the fake Anthropic server, in its own process ---------------------------------------------------------


def serve(port_file: Path, stamps_file: Path, tokens: int, rate: float, delta_tokens: int) -> None:
    """Run the fake server; on SIGTERM write every stream's delta send times (monotonic clock) and exit."""
    from tests.emulators.anthropic import FakeAnthropic, Reply

    sent: dict[str, list[float]] = {}

    class StampedFake(FakeAnthropic):
        async def _start_stream(self, request):  # type: ignore[no-untyped-def]
            response = await super()._start_stream(request)
            stamps = sent.setdefault((await request.json())["metadata"]["user_id"], [])
            write = response.write

            async def stamped_write(data: bytes) -> None:
                if b'"text_delta"' in data:
                    stamps.append(time.monotonic())
                await write(data)

            response.write = stamped_write  # type: ignore[method-assign]
            return response

    async def main() -> None:
        fake = StampedFake(api_key=API_KEY)
        fake.reply = Reply(
            text=answer_text(tokens),
            chunk_chars=CHARS_PER_TOKEN * delta_tokens,
            tokens_per_second=rate / delta_tokens,  # the fake paces deltas
        )
        await fake.start()
        port_file.write_text(fake.url)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        stamps_file.write_text(json.dumps(sent))
        await fake.close()

    asyncio.run(main())


# -- one case ---------------------------------------------------------------------------------------------


@dataclass
class Trace:
    """One answer's timeline."""

    deltas: list[float] = field(default_factory=list)  # send time of each token (monotonic)
    first_update: float | None = None  # when the engine got the first text (monotonic)
    post_called: float | None = None
    visible: list[tuple[float, int]] = field(default_factory=list)  # (request done, characters shown)
    messages: int = 0
    edits: int = 0


class TracingSink:
    """Wraps a limit-enforcing sink and notes when each request completed and how much of the answer it showed.

    ``responded``: told when each request's response is back (or it failed), as production's Discord adapter
    tells its pacer (``bot/discord_app.py`` ``responses_settle``)."""

    def __init__(self, inner: Any, trace: Trace, responded: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.limit = inner.limit
        self.bucket = inner.bucket
        self.post_bucket = inner.post_bucket
        self.trace = trace
        self._responded = responded
        self._shown: dict[str, int] = {}

    async def post(self, text: str, *, final: bool = False) -> str:
        if self.trace.post_called is None:
            self.trace.post_called = time.monotonic()
        message_id: str = await self._request(self.inner.post(text, final=final))
        self.trace.messages += 1
        self._done(message_id, text)
        return message_id

    async def edit(self, message_id: str, text: str, *, final: bool = False) -> None:
        await self._request(self.inner.edit(message_id, text, final=final))
        self.trace.edits += 1
        self._done(message_id, text)

    async def _request(self, request: Awaitable[T]) -> T:
        try:
            return await request
        finally:
            if self._responded is not None:
                self._responded()

    def _done(self, message_id: str, text: str) -> None:
        self._shown[message_id] = len(text.removesuffix(CURSOR))
        self.trace.visible.append((time.monotonic(), sum(self._shown.values())))


class HybridTracingSink(TracingSink):
    """A traced Slack answer: native stream or plain post, whichever the engine finds a slot for first."""

    def __init__(self, inner: Any, trace: Trace) -> None:
        super().__init__(inner, trace)
        self.plain_post_bucket = inner.plain_post_bucket
        self.native = inner.native
        self.stream_lifetime = inner.stream_lifetime

    async def post_plain(self, text: str, *, final: bool = False) -> str:
        if self.trace.post_called is None:
            self.trace.post_called = time.monotonic()
        message_id: str = await self._request(self.inner.post_plain(text, final=final))
        self.trace.messages += 1
        self._done(message_id, text)
        return message_id

    async def append(self, message_id: str, delta: str) -> None:
        await self._request(self.inner.append(message_id, delta))
        self.trace.edits += 1
        self._done(message_id, self.inner.platform.messages[message_id])

    async def stop(self, message_id: str, delta: str) -> None:
        await self._request(self.inner.stop(message_id, delta))
        self.trace.edits += 1
        self._done(message_id, self.inner.platform.messages[message_id])


async def lag_monitor(lags: list[float], stop: asyncio.Event, interval: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(interval)
        lags.append(loop.time() - start - interval)


async def run_case(args: argparse.Namespace) -> dict[str, Any]:
    limits, rate_limits = PLATFORMS[args.platform]
    platform = EmulatedPlatform(limits, latency=args.latency, record=False)
    pacer = Pacer(rate_limits)
    ramp = args.ramp if args.ramp is not None else args.streams / ramp_rate(args.platform)
    traces = [Trace() for _ in range(args.streams)]
    text = answer_text(args.tokens)
    workdir = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    if args.source == "sdk":
        import anthropic

        server, url = await start_server(workdir, args)
        client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=url, max_retries=0, timeout=120)

    def sink_for(number: int) -> TracingSink:
        if args.platform == "discord":  # every answer in its own thread: own bucket, shared global budget
            return TracingSink(platform.sink(f"thread{number}"), traces[number], responded=pacer.responded)
        # Slack: the production sink's routes, a native stream per workspace or a plain post per channel
        workspace, channel = slack_place(args, number)
        return HybridTracingSink(platform.hybrid_sink(workspace, channel), traces[number])

    async def from_sdk(number: int, message: ProgressiveMessage) -> str:
        answer = ""
        async with open_stream(client, f"s{number}") as stream:
            async for delta in stream.text_stream:
                answer += delta
                message.update(answer)
                if traces[number].first_update is None:
                    traces[number].first_update = time.monotonic()
        return answer

    async def from_generator(number: int, message: ProgressiveMessage) -> str:
        trace = traces[number]
        loop = asyncio.get_running_loop()
        start = loop.time()
        for token in range(args.delta_tokens, args.tokens + 1, args.delta_tokens):
            await asyncio.sleep(max(0.0, start + token / args.rate - loop.time()))
            trace.deltas.append(time.monotonic())
            message.update(text[: token * CHARS_PER_TOKEN])
            if trace.first_update is None:
                trace.first_update = trace.deltas[-1]
        return text

    async def one(number: int, delay: float) -> None:
        await asyncio.sleep(delay)
        message = ProgressiveMessage(sink_for(number), pacer, cursor=CURSOR)
        source = from_sdk if args.source == "sdk" else from_generator
        answer = await source(number, message)
        await message.finish(answer)

    async def measure() -> tuple[float, float, list[float]]:
        rng = random.Random(1)
        delays = sorted(rng.uniform(0, ramp) for _ in range(args.streams))
        lags: list[float] = []
        stop = asyncio.Event()
        monitor = asyncio.create_task(lag_monitor(lags, stop))
        cpu_start, wall_start = time.process_time(), time.monotonic()
        await asyncio.gather(*(one(n, delay) for n, delay in enumerate(delays)))
        cpu, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
        stop.set()
        await monitor
        return cpu, wall, lags

    if args.source != "sdk":
        cpu, wall, lags = await measure()
        return summarize(args, traces, platform, ramp, cpu=cpu, wall=wall, lags=lags)
    try:
        await warm_up(client)
        settle_heap()  # as the bot does once its runtime has started
        cpu, wall, lags = await measure()
    finally:
        await client.close()
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), timeout=60)
    stamps = json.loads((workdir / "stamps.json").read_text())
    for number, trace in enumerate(traces):
        trace.deltas = stamps[f"s{number}"]
    return summarize(args, traces, platform, ramp, cpu=cpu, wall=wall, lags=lags)


def slack_place(args: argparse.Namespace, number: int) -> tuple[str, str]:
    """The workspace and channel of answer ``number``: answers dealt round the ``--workspaces``; in each, one
    channel for the whole class (``--channels one``) or a channel each."""
    workspace = f"T{number % args.workspaces}"
    return workspace, f"{workspace}-C" if args.channels == "one" else f"{workspace}-C{number}"


def open_stream(client: Any, user: str) -> Any:
    return client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=32000,
        messages=[{"role": "user", "content": "How does streaming work?"}],
        metadata={"user_id": user},
    )


async def warm_up(client: Any) -> None:
    """One answer read up to its first delta, so the SDK's lazy imports and first connection are not measured."""
    async with open_stream(client, "warm-up") as stream:
        async for _ in stream.text_stream:
            break


def ramp_rate(platform: str) -> float:
    """Answers started per second: with their final edits, a half of what urgent requests may use on Discord."""
    return 12.5 if platform == "discord" else 10.0


async def start_server(workdir: Path, args: argparse.Namespace) -> tuple[asyncio.subprocess.Process, str]:
    port_file = workdir / "url"
    command = [
        __file__, "serve", str(port_file), str(workdir / "stamps.json"),
        str(args.tokens), str(args.rate), str(args.delta_tokens),
    ]
    server = await asyncio.create_subprocess_exec(sys.executable, *command, cwd=ROOT, stdout=subprocess.DEVNULL)
    for _ in range(200):
        if port_file.exists() and port_file.read_text():
            return server, port_file.read_text()
        await asyncio.sleep(0.05)
    server.kill()
    raise RuntimeError("the fake Anthropic server did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def summarize(
    args: argparse.Namespace,
    traces: list[Trace],
    platform: EmulatedPlatform,
    ramp: float,
    *,
    cpu: float,
    wall: float,
    lags: list[float],
) -> dict[str, Any]:
    added = [t.post_called - t.deltas[0] for t in traces if t.post_called is not None and t.deltas]
    final_after = [t.visible[-1][0] - t.deltas[-1] for t in traces if t.visible and t.deltas]
    engine = [t.post_called - t.first_update for t in traces if t.post_called and t.first_update]
    staleness = [s for t in traces for s in delta_staleness(t, CHARS_PER_TOKEN * args.delta_tokens)]
    tokens = sum(len(t.deltas) for t in traces) * args.delta_tokens
    _, rate_limits = PLATFORMS[args.platform]
    answer_seconds = args.tokens / args.rate
    starts = sorted(t.deltas[0] for t in traces if t.deltas)
    ends = sorted(t.visible[-1][0] for t in traces if t.visible)
    concurrency = [
        bisect.bisect_right(starts, sent) - bisect.bisect_right(ends, sent) for t in traces for sent in t.deltas
    ]
    messages = sum(t.messages for t in traces)
    per_answer = messages / len(traces)
    floor = staleness_bound(args, len(traces), ramp + answer_seconds, answer_seconds)
    # Each answer needs at least a closing edit per message, and on Discord its posts count in the same global
    # budget (Slack's posts have their own per-channel limit): can the platform carry that at all?
    shared = 2 if args.platform == "discord" else 1
    needed = statistics.fmean(concurrency) * shared * per_answer / answer_seconds if concurrency else 0.0
    first_floor = first_visible_floor(args, [t.deltas[0] if t.deltas else None for t in traces])
    return {
        "platform": args.platform,
        "layout": f"{args.workspaces} workspace(s), {args.channels} channel" if args.platform == "slack" else "",
        "source": args.source,
        "streams": args.streams,
        "tokens_per_answer": args.tokens,
        "tokens_per_delta": args.delta_tokens,
        "ramp_s": round(ramp, 1),
        "mean_concurrent_answers": round(statistics.fmean(concurrency), 1) if concurrency else None,
        "added_first_visible_p50_ms": round(percentile(added, 0.5) * 1000, 1),
        "added_first_visible_p99_ms": round(percentile(added, 0.99) * 1000, 1),
        "engine_first_post_p99_ms": round(percentile(engine, 0.99) * 1000, 1),
        "added_first_visible_p95_max_mean_ms": first_figures(added),
        "first_visible_floor_p95_max_mean_ms": first_figures(first_floor),
        "final_after_last_token_p95_max_ms": [round(percentile(final_after, 0.95) * 1000, 1),
                                              round(max(final_after, default=float("nan")) * 1000, 1)],
        "staleness_mean_s": round(statistics.fmean(staleness), 3) if staleness else None,
        "staleness_floor_s": round(floor, 3),
        "staleness_vs_floor": round(statistics.fmean(staleness) / floor, 2) if staleness else None,
        "min_requests_per_s_needed": round(needed, 1),
        "requests_per_s_allowed": round(allowed_rate(args.platform, rate_limits, args.streams), 1),
        "edits_per_message": round(sum(t.edits for t in traces) / messages, 1) if messages else None,
        "messages_per_answer": round(messages / len(traces), 1),
        "requests": platform.request_count,
        "requests_per_answer": round(platform.request_count / len(traces), 2),
        "429s": platform.rejected_count,
        "violations": len(platform.violations),
        "violation_samples": sorted({v.split(" ")[0] + " " + " ".join(v.split(" ")[2:6]) for v in platform.violations})[:5],
        "tokens_delivered": tokens,
        "cpu_s_per_1000_tokens": round(cpu / (tokens / 1000), 4) if tokens else None,
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loop_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
    }


def first_figures(waits: list[float]) -> list[float]:
    return [round(value * 1000, 1) for value in (percentile(waits, 0.95), max(waits), statistics.fmean(waits))]


def first_visible_floor(args: argparse.Namespace, asked: list[float | None]) -> list[float]:
    """The earliest each answer's first post could leave, from its first delta, under the platform's own
    limits (not the bot's margins). Discord: each answer's thread is its own post bucket, so only the bot's
    global budget is shared. Slack: a first text may start a stream (the workspace's Tier 2 window) or be
    posted plain (its channel's window); answers that share both are placed together."""
    limits, _ = PLATFORMS[args.platform]
    if args.platform == "discord":
        routes = [[Budget(*limits.global_)]] if limits.global_ else [[]]
        return first_text_floor([a for a in asked if a is not None], routes, latency=0.0)
    groups: dict[tuple[str, str], list[float]] = {}
    for number, at in enumerate(asked):
        if at is not None:
            groups.setdefault(slack_place(args, number), []).append(at)
    streams = {workspace: Budget(*limits.post) for workspace, _ in groups}
    waits = []
    for (workspace, _), arrivals in groups.items():
        assert limits.plain is not None
        waits += first_text_floor(arrivals, [[streams[workspace]], [Budget(*limits.plain)]], latency=0.0)
    return waits


def delta_staleness(trace: Trace, chars_per_delta: int) -> list[float]:
    """For each delta: from its send time to the end of the first request that showed it."""
    result = []
    visible = sorted(trace.visible)
    position = 0  # both send times and characters needed grow, so the answering request never moves back
    for index, sent in enumerate(trace.deltas):
        needed = (index + 1) * chars_per_delta
        while position < len(visible) and (visible[position][0] < sent or visible[position][1] < needed):
            position += 1
        if position == len(visible):
            break
        result.append(visible[position][0] - sent)
    return result


def allowed_rate(platform: str, limits: RateLimits, streams: int) -> float:
    """Requests per second the platform takes from all answers together (Discord: the global budget, or a
    thread each if fewer; Slack: the workspace's chat.update tier)."""
    per_bucket = limits.per_bucket or (1, 1.0)
    rate = per_bucket[0] / (per_bucket[1] + limits.margin)
    if platform == "discord":
        rate *= streams  # a thread each
    if limits.global_ is not None:
        rate = min(rate, limits.global_[0] / (limits.global_[1] + limits.margin))
    return rate


def staleness_bound(args: argparse.Namespace, answers: int, span: float, answer_s: float) -> float:
    """The best mean staleness any scheduler could reach under the platform's own limits (not the bot's
    margins): see ``bench/floors.py``. Discord: a thread's edit bucket each, the global budget shared.
    Slack: the first post is the answer's own (a stream start or a plain post); after it, a workspace's
    answers share every window that shows text (appends, updates, stream stops) evenly."""
    limits, _ = PLATFORMS[args.platform]
    if args.platform == "discord":
        shared = [limits.global_] if limits.global_ else []
        requests = requests_per_answer(answers, span, own=[limits.edit], shared=shared, mandatory_shared=0)
    else:
        per_workspace = max(1, answers // args.workspaces)
        windows = [w for w in (limits.append, limits.edit, limits.stop) if w is not None]
        requests = 1 + sum(window_capacity(w, span) for w in windows) / per_workspace
    return staleness_floor(answer_s, requests, args.latency)


# -- driver -----------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--platform", choices=sorted(PLATFORMS), nargs="+", default=["discord", "slack"])
    parser.add_argument("--source", choices=["sdk", "generator"], default="sdk")
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second per answer")
    parser.add_argument(
        "--delta-tokens", type=int, default=1,
        help="tokens per text delta (1: worst case; the recorded real streams have a median delta of ~21 chars, ~5)",
    )
    parser.add_argument("--latency", type=float, default=0.05, help="simulated platform request latency (s)")
    parser.add_argument("--ramp", type=float, default=None, help="seconds over which answers start")
    parser.add_argument("--quick", action="store_true", help="300-token answers")
    parser.add_argument("--workspaces", type=int, default=1, help="Slack: answers dealt round this many workspaces")
    parser.add_argument("--channels", choices=["one", "each"], default="each",
                        help="Slack: one channel per workspace for the whole class, or a channel per answer")
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.tokens = min(args.tokens, 300)
    if args.case:
        args.platform, args.streams = args.platform[0], args.streams[0]
        print(json.dumps(asyncio.run(run_case(args))))
        return
    results = []
    for platform in args.platform:
        for streams in args.streams:
            command = [sys.executable, __file__, "--case", "--platform", platform, "--streams", str(streams)]
            command += ["--source", args.source, "--tokens", str(args.tokens), "--rate", str(args.rate)]
            command += ["--latency", str(args.latency), "--delta-tokens", str(args.delta_tokens)]
            command += ["--workspaces", str(args.workspaces), "--channels", args.channels]
            if args.ramp is not None:
                command += ["--ramp", str(args.ramp)]
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
