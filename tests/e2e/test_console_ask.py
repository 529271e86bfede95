"""``coursebot ask ... > answer.md``: stdout is the answer alone; notice, footer and warnings go to stderr."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.core import messages
from tests.emulators.anthropic import Cut, Failure, FakeAnthropic, Reply

pytestmark = pytest.mark.e2e

CONTENT = Path(__file__).resolve().parents[2] / "content"
ANSWER = "## Why stream\n\nThe first words arrive at once: **TTFT** is what the learner feels.\n\n```python\nprint('hi')\n```"


async def ask(tmp_path: Path, fake: FakeAnthropic, *, key: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COURSEBOT_", "DISCORD_", "SLACK_"))}
    env |= {"COURSEBOT_DB": str(tmp_path / "course.db"), "COURSEBOT_CONTENT": str(CONTENT),
            "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": key or fake.api_key, "PYTHONIOENCODING": "utf-8"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "ask", "Why stream?", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_stdout_is_the_answer_and_the_footer_goes_to_stderr(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.script(Failure(529))  # a retry, which the SDK logs
    fake_anthropic.reply = Reply(text=ANSWER, chunk_chars=4)

    code, out, err = await ask(tmp_path, fake_anthropic)

    assert code == 0, err
    assert out == ANSWER + "\n"  # exactly the Markdown, ready to save as answer.md
    assert "TTFT" in err and "tokens" in err
    assert "Retrying request" in err


async def test_a_cut_answer_keeps_its_text_on_stdout_and_the_notice_on_stderr(
    fake_anthropic: FakeAnthropic, tmp_path: Path,
) -> None:
    fake_anthropic.reply = Reply(text="Partial answers stay on screen.", chunk_chars=4, cut=Cut("drop", after=2))

    code, out, err = await ask(tmp_path, fake_anthropic)

    assert code == 3
    assert out == "Partial \n"
    assert "⚠️ The answer was cut off" in err and "⚠️" not in out


async def test_a_rejected_key_prints_nothing_on_stdout(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    code, out, err = await ask(tmp_path, fake_anthropic, key="sk-ant-wrong-key")

    assert code == 2
    assert out == ""
    assert messages.UNAVAILABLE in err
    assert "sk-ant-wrong-key" not in err
