"""Every ```python block in the lessons runs, unchanged, against the fake Anthropic API.

A lesson must never teach code that does not run. Each block is executed as its own process with this
interpreter, ``ANTHROPIC_API_KEY=test-key`` and ``ANTHROPIC_BASE_URL`` pointing at the emulator, exactly as a
learner would run it. Blocks that handle errors are also run against streams that fail (an ``event: error``
mid-stream, a dropped connection, a stream that ends without ``message_stop``, a 401 before the stream) and
must still exit cleanly; blocks that offer tools are also run against an answer that calls one.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply, Scripted

CONTENT = Path(__file__).resolve().parents[2] / "content"
PYTHON_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(CONTENT)}:{self.line}"

    @property
    def handles_errors(self) -> bool:
        return "except " in self.code

    @property
    def offers_tools(self) -> bool:
        return "tools=" in self.code


def lesson_blocks() -> list[CodeBlock]:
    blocks = []
    for path in sorted(CONTENT.glob("**/lesson-*.md")):
        text = path.read_text(encoding="utf-8")
        for match in PYTHON_FENCE.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            blocks.append(CodeBlock(path, line, match.group(1)))
    return blocks


BLOCKS = lesson_blocks()
FAILURES: dict[str, Scripted] = {
    "error-event": Reply(cut=Cut("error", after=2)),
    "dropped-connection": Reply(cut=Cut("drop", after=2)),
    "no-message-stop": Reply(cut=Cut("no_stop", after=2)),
    "http-401": Failure(401),
}


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


def test_every_lesson_has_runnable_code() -> None:
    lessons = sorted(CONTENT.glob("**/lesson-*.md"))
    assert lessons, f"no lessons under {CONTENT}"
    without_code = [p.name for p in lessons if not any(b.path == p for b in BLOCKS)]
    assert not without_code, f"lessons without a python block: {without_code}"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
async def test_block_runs(block: CodeBlock, fake_anthropic: FakeAnthropic) -> None:
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    assert fake_anthropic.request_count >= 1, f"{block.id} never called the API"
    refused = [r.question for r in fake_anthropic.requests if r.outcome == "failed"]
    assert not refused, f"{block.id} sent requests the API refused: {refused}"


@pytest.mark.parametrize("failure", list(FAILURES), ids=str)
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.handles_errors], ids=lambda b: b.id)
async def test_error_handling_block_survives_failure(
    block: CodeBlock, failure: str, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(FAILURES[failure])
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    expected = "failed" if isinstance(FAILURES[failure], Failure) else "cut"
    assert fake_anthropic.requests[0].outcome == expected, f"{block.id} never met the scripted {failure}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.offers_tools], ids=lambda b: b.id)
async def test_tool_block_handles_a_tool_call(block: CodeBlock, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(blocks=("text", "tool_use"))
    returncode, stdout, stderr = await run_block(block, fake_anthropic)
    assert_ran(block, returncode, stdout, stderr)
    assert "tool_use" in stdout, f"{block.id} did not show the tool call"
