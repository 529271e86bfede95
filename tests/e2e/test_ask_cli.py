"""``coursebot ask`` as a learner runs it: a subprocess, configured by environment variables, against the fake API.

stdout is the answer alone (``coursebot ask ... > answer.md`` saves just the Markdown); its notice (stopped, cut
off), its footer (timing, tokens), warnings and problems go to stderr.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core import messages
from bot.core.citations import lesson_document
from bot.core.content.loader import load_course
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply, question_of

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
FOOTER = r"TTFT \d+\.\d\d s · \d+ tokens · \d+ tok/s"
MARKDOWN = "## Why stream\n\nThe first words arrive at once: **TTFT** is what the learner feels.\n\n```python\nprint('hi')\n```"


@dataclass
class Run:
    code: int
    out: str
    err: str


async def start_ask(tmp_path: Path, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COURSEBOT_", "DISCORD_", "SLACK_"))}
    base.update(
        COURSEBOT_DB=str(tmp_path / "course.db"),
        COURSEBOT_CONTENT=str(CONTENT),
        COURSEBOT_LOG_LEVEL="WARNING",
        PYTHONIOENCODING="utf-8",
    )
    base.update(env)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "ask", *args,
        env=base, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> Run:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def coursebot_ask(tmp_path: Path, *args: str, env: dict[str, str]) -> Run:
    return await finished(await start_ask(tmp_path, *args, env=env))


def api_env(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": fake.api_key, "COURSEBOT_READ_TIMEOUT": "2"}


async def test_complete_answer_exits_0(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.reply = Reply(text=lambda body: f"You asked: {question_of(body)}")
    run = await coursebot_ask(tmp_path, "What is TTFT?", "--lab", "2", env=api_env(fake_anthropic))

    assert run.code == 0, run.err
    assert run.out == "You asked: What is TTFT?\n"  # the answer alone
    assert re.search(FOOTER, run.err)
    assert fake_anthropic.request_count == 1
    course = load_course(CONTENT)
    lab = course.modules[course.default_module].labs[2]
    lesson = course.modules[course.default_module].lessons[lab.lesson]
    system = fake_anthropic.requests[0].system_blocks
    assert lab.assistant_name in system[0]["text"]
    (document,) = fake_anthropic.requests[0].documents  # the lesson, cached, citable
    assert document == lesson_document(lesson) and document["cache_control"] == {"type": "ephemeral"}


async def test_a_retried_markdown_answer_is_stdout_exactly(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.script(Failure(529))  # a retry, which the SDK logs
    fake_anthropic.reply = Reply(text=MARKDOWN, chunk_chars=4)
    run = await coursebot_ask(tmp_path, "Why stream?", env=dict(api_env(fake_anthropic), COURSEBOT_LOG_LEVEL="INFO"))

    assert run.code == 0, run.err
    assert run.out == MARKDOWN + "\n"  # exactly the Markdown, ready to save as answer.md: no status, no log line
    assert "Retrying request" in run.err and re.search(FOOTER, run.err)
    assert fake_anthropic.request_count == 2


async def test_cut_answer_exits_3_and_keeps_the_text(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.reply = Reply(text="Partial answers stay on screen.", chunk_chars=4, cut=Cut("drop", after=2))
    run = await coursebot_ask(tmp_path, "Why stream?", env=api_env(fake_anthropic))

    assert run.code == 3, run.err
    assert run.out == "Partial \n"
    assert messages.CUT.format(reason="the connection dropped") in run.err
    assert fake_anthropic.request_count == 1


async def test_ctrl_c_stops_the_answer_and_exits_3(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.reply = Reply(text="Stopping keeps what arrived.", chunk_chars=9, cut=Cut("stall", after=1))
    process = await start_ask(tmp_path, "Why stream?", env=dict(api_env(fake_anthropic), COURSEBOT_READ_TIMEOUT="60"))
    for _ in range(3000):  # bounded: until the first delta is on the wire (then the answer is streaming)
        if fake_anthropic.requests and fake_anthropic.requests[0].text_sent:
            break
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGINT)
    run = await finished(process)

    assert run.code == 3, run.err
    # Piped output shows text once confirmed; the delta may or may not have been read before the stop.
    assert run.out in ("", "Stopping \n")
    assert messages.STOPPED in run.err
    assert [r.outcome for r in await fake_anthropic.settled()] == ["client_closed"]


async def test_rejected_key_exits_2_with_operator_hint(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    env = dict(api_env(fake_anthropic), ANTHROPIC_API_KEY="sk-ant-wrong-key")
    run = await coursebot_ask(tmp_path, "Why stream?", env=env)

    assert run.code == 2
    assert run.out == ""
    assert messages.UNAVAILABLE in run.err and "ANTHROPIC_API_KEY was rejected (401)" in run.err
    assert "sk-ant-wrong-key" not in run.err + run.out
    assert fake_anthropic.request_count == 1


async def test_missing_key_exits_2_and_says_how_to_set_it(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    run = await coursebot_ask(tmp_path, "Why stream?", env={"ANTHROPIC_BASE_URL": fake_anthropic.url})

    assert run.code == 2
    assert "ANTHROPIC_API_KEY is not set" in run.err and "export ANTHROPIC_API_KEY=" in run.err
    assert run.out == "" and fake_anthropic.request_count == 0


async def test_unknown_lab_exits_2(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    run = await coursebot_ask(tmp_path, "Why stream?", "--lab", "9", env=api_env(fake_anthropic))

    assert run.code == 2
    assert "There is no lab 9" in run.err
    assert fake_anthropic.request_count == 0
