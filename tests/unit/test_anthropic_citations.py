"""The fake API streams citations the way the real API does, and the answer stays progressive while they arrive.

The real recorded streams are read from ANTHROPIC_SSE_RECORDINGS (default /work/shared/anthropic-sse) at test
time and never copied into the project; the tests that need them are skipped where the folder is missing.
Recorded citations are web search results (``web_search_result_location``); the lesson's are
``content_block_location``: the shape of the stream around them is what is compared.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.claude import Answer, AnswerRequest, make_client, stream_answer
from tests.emulators.anthropic import Cited, FakeAnthropic, Replay, Reply

RECORDINGS = Path(os.environ.get("ANTHROPIC_SSE_RECORDINGS", "/work/shared/anthropic-sse"))
DOCUMENT = {
    "type": "document", "title": "Lesson 1: Streaming",
    "source": {"type": "content", "content": [{"type": "text", "text": t} for t in ("Intro.", "Body one.", "Body two.")]},
    "citations": {"enabled": True},
}
PARTS = ("Plain start. ", Cited("first cited", 1), " between ", Cited("second cited", 1, 3), ".")


@pytest.fixture(scope="module")
def cited_recordings() -> list[Path]:
    if not RECORDINGS.is_dir():
        pytest.skip(f"the recorded streams ({RECORDINGS}) are not available on this machine")
    found = sorted(p for p in RECORDINGS.glob("*.sse") if b"citations_delta" in p.read_bytes())
    if not found:
        pytest.skip(f"no recording in {RECORDINGS} has a citations_delta")
    return found


def events(raw: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of each SSE frame; recordings pad their JSON with spaces."""
    for frame in raw.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(":", 1) for line in frame.strip().splitlines() if ":" in line)
        if "event" in lines and "data" in lines:
            yield lines["event"].strip(), json.loads(lines["data"])


def text_block_shapes(raw: str) -> set[tuple[str, ...]]:
    """Each text block as (has a ``citations`` key at its start, its delta types with repeats collapsed)."""
    open_blocks: dict[int, list[str]] = {}
    shapes: set[tuple[str, ...]] = set()
    for event, data in events(raw):
        if event == "content_block_start" and data["content_block"]["type"] == "text":
            block = data["content_block"]
            assert block.get("citations", []) == [] and block["text"] == ""
            open_blocks[data["index"]] = ["cited" if "citations" in block else "plain"]
        elif event == "content_block_delta" and data["index"] in open_blocks:
            kinds = open_blocks[data["index"]]
            if kinds[-1] != data["delta"]["type"]:
                kinds.append(data["delta"]["type"])
        elif event == "content_block_stop" and data["index"] in open_blocks:
            shapes.add(tuple(open_blocks.pop(data["index"])))
    return shapes


def citations_in(raw: str) -> list[dict[str, Any]]:
    return [data["delta"]["citation"] for event, data in events(raw)
            if event == "content_block_delta" and data["delta"]["type"] == "citations_delta"]


async def fake_stream(fake: FakeAnthropic, messages: list[dict[str, Any]]) -> str:
    """The raw SSE body the fake answers to a streamed request."""
    body = {"model": "claude-haiku-5-5", "max_tokens": 100, "stream": True, "messages": messages}
    async with aiohttp.ClientSession() as session, session.post(
        f"{fake.url}/v1/messages", json=body, headers={"authorization": f"Bearer {fake.api_key}"},
    ) as response:
        return await response.text()


def asking(question: str = "Why?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [DOCUMENT, {"type": "text", "text": question}]}]


async def test_the_fake_streams_citations_shaped_like_the_recordings(
    fake_anthropic: FakeAnthropic, cited_recordings: list[Path]
) -> None:
    recorded = set().union(*(text_block_shapes(p.read_text()) for p in cited_recordings))
    assert ("cited", "citations_delta", "text_delta") in recorded  # what the comparison rests on

    fake_anthropic.reply = Reply(parts=PARTS, chunk_chars=5)
    raw = await fake_stream(fake_anthropic, asking())

    assert text_block_shapes(raw) == {("plain", "text_delta"), ("cited", "citations_delta", "text_delta")}
    assert text_block_shapes(raw) <= recorded
    recorded_keys = {frozenset(c) for p in cited_recordings for c in citations_in(p.read_text())}
    assert all({"type", "cited_text"} <= keys for keys in recorded_keys)
    cited = citations_in(raw)
    assert [(c["type"], c["start_block_index"], c["end_block_index"], c["cited_text"]) for c in cited] == [
        ("content_block_location", 1, 2, "Body one."),
        ("content_block_location", 1, 3, "Body one.Body two."),
    ]
    assert all(c["document_index"] == 0 and c["document_title"] == "Lesson 1: Streaming" for c in cited)


async def test_without_a_citable_document_the_fake_cites_nothing(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(parts=PARTS)
    raw = await fake_stream(fake_anthropic, [{"role": "user", "content": "Why?"}])

    assert citations_in(raw) == [] and text_block_shapes(raw) == {("plain", "text_delta")}


async def answer_from(fake: FakeAnthropic) -> tuple[Answer, list[str]]:
    client = make_client(fake.api_key, base_url=fake.url, max_retries=0, read_timeout=5.0)
    answer, shown = Answer(), []
    request = AnswerRequest(model="claude-haiku-5-5", max_tokens=100, system=[], messages=asking())
    try:
        await stream_answer(client, request, answer, on_text=shown.append, on_retry=lambda: None)
    finally:
        await client.close()
    return answer, shown


async def test_a_recorded_cited_stream_stays_progressive_and_its_citations_are_collected(
    fake_anthropic: FakeAnthropic, cited_recordings: list[Path]
) -> None:
    for path in cited_recordings:
        raw = path.read_text()
        fake_anthropic.script(Replay(path, chunk_bytes=97))
        answer, shown = await answer_from(fake_anthropic)

        text = "".join(data["delta"]["text"] for event, data in events(raw)
                       if event == "content_block_delta" and data["delta"]["type"] == "text_delta")
        assert answer.text == text, path.name
        assert all(later.startswith(earlier) for earlier, later in zip(shown, shown[1:], strict=False)), path.name
        assert [c.cited_text for c in answer.citations] == [c["cited_text"] for c in citations_in(raw)], path.name


async def test_the_fakes_citations_reach_the_answer_as_the_sdk_parses_them(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply = Reply(parts=PARTS, chunk_chars=3)
    answer, shown = await answer_from(fake_anthropic)

    assert answer.text == "Plain start. first cited between second cited." and answer.complete
    assert all(later.startswith(earlier) for earlier, later in zip(shown, shown[1:], strict=False))
    assert [(c.type, c.start_block_index, c.end_block_index) for c in answer.citations] == [
        ("content_block_location", 1, 2), ("content_block_location", 1, 3),
    ]
