"""Every ```python block in the lessons runs, unchanged, against the fake Anthropic API.

A lesson must never teach code that does not run. Each block is executed as its own process with this
interpreter, ``ANTHROPIC_API_KEY=test-key`` and ``ANTHROPIC_BASE_URL`` pointing at the emulator, exactly as a
learner would run it. Blocks that handle errors are also run against streams that fail (an ``event: error``
mid-stream, a dropped connection, a stream cut before or after ``message_delta``, a 200 whose body is empty or
only a ping, a 401 before the stream): each must exit cleanly and print what its lesson promises for that
failure (``PROMISES``). Blocks that offer tools are also run against an answer that calls one.

A block that defines a FastAPI app is served by uvicorn instead and read by a real HTTP client, and every
```javascript block must at least parse (``node --check``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.emulators.anthropic import DEFAULT_TEXT, Cut, Failure, FakeAnthropic, Replay, Reply, Scripted, sse

CONTENT = Path(__file__).resolve().parents[2] / "content"
FENCE = re.compile(r"^```(?P<language>python|javascript)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^## (.+)$", re.MULTILINE)
RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int
    code: str
    section: str  # the "## " heading the block sits under
    language: str = "python"

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(CONTENT)}:{self.line}"

    @property
    def handles_errors(self) -> bool:
        return "except " in self.code

    @property
    def serves_http(self) -> bool:
        """A web app (run under uvicorn, not as a script)."""
        return "FastAPI(" in self.code

    @property
    def offers_tools(self) -> bool:
        return "tools=" in self.code


def lesson_blocks() -> list[CodeBlock]:
    blocks = []
    for path in sorted(CONTENT.glob("**/lesson-*.md")):
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start("code")) + 1
            headings = HEADING.findall(text, 0, match.start())
            section = headings[-1] if headings else ""
            blocks.append(CodeBlock(path, line, match["code"], section, match["language"]))
    return blocks


ALL_BLOCKS = lesson_blocks()
BLOCKS = [b for b in ALL_BLOCKS if b.language == "python" and not b.serves_http]
WEB_APPS = [b for b in ALL_BLOCKS if b.language == "python" and b.serves_http]
JAVASCRIPT = [b for b in ALL_BLOCKS if b.language == "javascript"]
ERROR_BLOCKS = [b for b in BLOCKS if b.handles_errors]

# Each failure, and how the fake's request for it ends. "ping-only" is written to a file at test time.
FAILURES: dict[str, tuple[Scripted | None, str]] = {
    "error-event": (Reply(cut=Cut("error", after=2)), "cut"),
    "dropped-connection": (Reply(cut=Cut("drop", after=2)), "cut"),
    "no-message-stop": (Reply(cut=Cut("no_stop", after=2)), "cut"),
    "cut-after-message-delta": (Reply(cut=Cut("after_delta")), "cut"),
    "empty-body": (Reply(cut=Cut("no_stop", after=0)), "cut"),
    "ping-only": (None, "complete"),
    "http-401": (Failure(401), "failed"),
}
INCOMPLETE = ("no-message-stop", "cut-after-message-delta", "empty-body", "ping-only")
RETRYABLE = ("error-event", "dropped-connection", *INCOMPLETE)

# What each error-handling example promises as its last line of output, by its section heading (a pattern that
# must match the whole line): "ok" is the stream that succeeds. Examples that handle errors promise something for
# every failure.
_WRAPPED_INCOMPLETE = r"\[stream ended before message_stop after \d+ pieces: the answer may be incomplete\]"
_NOT_SET_UP = "The assistant is not set up correctly, so asking again will not help. We have logged the problem."
PROMISES: dict[str, dict[str, str]] = {
    "Usage and stop reason": {  # no except clauses: it promises only to notice a stream that did not finish
        "ok": r"Output tokens: \d+",
        **dict.fromkeys(
            INCOMPLETE, re.escape("[The stream ended before message_stop: no stop reason or final usage to report.]")
        ),
    },
    "Wrapping a stream safely": {
        "ok": r"\[complete\]",
        "error-event": r"\[failed mid-answer: overloaded_error\]",
        "dropped-connection": r"\[connection lost mid-answer: RemoteProtocolError\]",
        **dict.fromkeys(INCOMPLETE, _WRAPPED_INCOMPLETE),
        "http-401": r"\[failed HTTP 401: authentication_error\]",
    },
    "Recovering without duplicating text": {  # a retry replaces the broken attempt: the whole answer, alone
        **dict.fromkeys(("ok", *RETRYABLE), re.escape(DEFAULT_TEXT)),
        "http-401": re.escape(_NOT_SET_UP),
    },
}
# The FastAPI example's last event for each failure: its error event, with the message that fits.
WEB_TRY_AGAIN = "The answer was interrupted. Please ask again in a moment."
WEB_NOT_SET_UP = "The assistant is not available right now; asking again will not help."


def scripted(failure: str, folder: Path) -> Scripted:
    response, _ = FAILURES[failure]
    if response is not None:
        return response
    body = folder / "ping-only.sse"
    body.write_bytes(sse("ping", {"type": "ping"}))
    return Replay(body)


def child_env(base_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANTHROPIC_")}
    env.update(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=base_url, NO_PROXY="127.0.0.1,localhost")
    return env


async def run_block(block: CodeBlock, fake: FakeAnthropic) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        block.code,
        env=child_env(fake.url),
        cwd=block.path.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{block.id} did not finish within {RUN_TIMEOUT:g}s")
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def assert_ran(block: CodeBlock, returncode: int, stdout: str, stderr: str) -> None:
    assert returncode == 0, f"{block.id} exited {returncode}:\n{stderr}"
    if "print(" in block.code:
        assert stdout.strip(), f"{block.id} printed nothing"


def assert_kept_promise(block: CodeBlock, case: str, stdout: str) -> None:
    promised = PROMISES[block.section][case]
    last_line = stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert re.fullmatch(promised, last_line), f"{block.id} ({case}) should end with {promised!r}; it printed:\n{stdout}"
    assert stdout.count(DEFAULT_TEXT) <= 1, f"{block.id} ({case}) showed the answer twice:\n{stdout}"


def test_every_lesson_has_runnable_code() -> None:
    lessons = sorted(CONTENT.glob("**/lesson-*.md"))
    assert lessons, f"no lessons under {CONTENT}"
    without_code = [p.name for p in lessons if not any(b.path == p for b in BLOCKS)]
    assert not without_code, f"lessons without a python block: {without_code}"


def promised_failures() -> list[tuple[CodeBlock, str]]:
    return [(b, case) for b in BLOCKS if b.section in PROMISES for case in PROMISES[b.section] if case != "ok"]


def test_every_error_handling_example_states_its_promises() -> None:
    assert ERROR_BLOCKS, "no lesson handles errors"
    for block in ERROR_BLOCKS:
        assert block.section in PROMISES, f"{block.id}: add what '{block.section}' prints for each failure"
        assert set(PROMISES[block.section]) == {"ok", *FAILURES}, f"{block.id}: promises for some cases missing"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
async def test_block_runs(block: CodeBlock, fake_anthropic: FakeAnthropic) -> None:
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    assert fake_anthropic.request_count >= 1, f"{block.id} never called the API"
    refused = [r.question for r in fake_anthropic.requests if r.outcome == "failed"]
    assert not refused, f"{block.id} sent requests the API refused: {refused}"
    if block.section in PROMISES:
        assert_kept_promise(block, "ok", stdout)


@pytest.mark.parametrize(("block", "failure"), promised_failures(), ids=lambda x: x if isinstance(x, str) else x.id)
async def test_block_keeps_its_promise_when_the_stream_fails(
    block: CodeBlock, failure: str, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.script(scripted(failure, tmp_path))
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    assert fake_anthropic.requests[0].outcome == FAILURES[failure][1], f"{block.id} never met the scripted {failure}"
    assert_kept_promise(block, failure, stdout)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.offers_tools], ids=lambda b: b.id)
async def test_tool_block_handles_a_tool_call(block: CodeBlock, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(blocks=("text", "tool_use"))
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    assert "tool_use" in stdout, f"{block.id} did not show the tool call"


# ------------------------------------------------------------------ the web example, served for real


def test_lessons_have_a_web_example_and_its_browser_side() -> None:
    assert len(WEB_APPS) == 1, [b.id for b in WEB_APPS]
    assert JAVASCRIPT, "the web example needs its browser consumer"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed, so JavaScript cannot be parsed")
@pytest.mark.parametrize("block", JAVASCRIPT, ids=lambda b: b.id)
async def test_javascript_block_parses(block: CodeBlock, tmp_path: Path) -> None:
    script = tmp_path / "consumer.js"
    script.write_text(block.code, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        "node", "--check", str(script), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    assert process.returncode == 0, f"{block.id} does not parse:\n{stderr.decode()}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def web_app(fake_anthropic: FakeAnthropic, tmp_path: Path) -> AsyncIterator[str]:
    """The lesson's FastAPI example saved as chat_server.py and served by uvicorn; yields its base URL."""
    (block,) = WEB_APPS
    (tmp_path / "chat_server.py").write_text(block.code, encoding="utf-8")
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "chat_server:app", "--host", "127.0.0.1", "--port", str(port),
        env=child_env(fake_anthropic.url),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_serving(server, url)
        yield url
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()


async def _wait_until_serving(server: asyncio.subprocess.Process, url: str) -> None:
    deadline = asyncio.get_running_loop().time() + RUN_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            if server.returncode is not None:
                assert server.stderr is not None
                pytest.fail(f"uvicorn exited {server.returncode}:\n{(await server.stderr.read()).decode()}")
            try:
                async with session.get(f"{url}/openapi.json"):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    pytest.fail(f"uvicorn did not start serving within {RUN_TIMEOUT:g}s")


async def read_events(response: aiohttp.ClientResponse) -> list[tuple[str, dict[str, object]]]:
    """The Server-Sent Events of a response, as (event, data) pairs."""
    events, event = [], ""
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((event, json.loads(line.removeprefix("data: "))))
    return events


async def ask(url: str, question: str) -> tuple[aiohttp.ClientResponse, list[tuple[str, dict[str, object]]]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/chat/stream", params={"q": question}) as response,
    ):
        return response, await read_events(response)


async def test_web_example_streams_deltas_then_done(web_app: str, fake_anthropic: FakeAnthropic) -> None:
    response, events = await ask(web_app, "What is a content block?")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert [name for name, _ in events[:-1]] == ["delta"] * (len(events) - 1)
    assert "".join(str(data["text"]) for _, data in events[:-1]) == DEFAULT_TEXT
    assert events[-1] == ("done", {"stop_reason": "end_turn"})
    assert fake_anthropic.requests[0].question == "What is a content block?"


@pytest.mark.parametrize("failure", list(FAILURES), ids=str)
async def test_web_example_ends_a_failed_stream_with_an_error_event(
    failure: str, web_app: str, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.script(scripted(failure, tmp_path))

    response, events = await ask(web_app, "What is a content block?")

    assert response.status == 200
    assert fake_anthropic.requests[0].outcome == FAILURES[failure][1]
    message = WEB_NOT_SET_UP if failure == "http-401" else WEB_TRY_AGAIN
    assert events[-1] == ("error", {"message": message})
    assert [name for name, _ in events].count("done") == 0


async def test_web_example_closes_the_claude_stream_when_the_browser_leaves(
    web_app: str, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply = Reply(text="A long answer. " * 200, tokens_per_second=50)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{web_app}/chat/stream", params={"q": "Hi"}) as response,
    ):
        first = await response.content.readline()
        assert first.startswith(b"event: delta")
    # the browser is gone: the server must close its own stream to Claude before the answer ends

    (request,) = await fake_anthropic.settled(timeout=RUN_TIMEOUT)
    assert request.outcome == "client_closed"
