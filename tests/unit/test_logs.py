"""Log redaction: every secret kind, in messages, tracebacks and stacks, at every level."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import RedactSecrets, secret_values

SLACK_TOKENS = [
    f"{kind}-1234567890-0987654321-AbCdEfGhIjKlMnOp"
    for kind in ("xoxb", "xoxp", "xoxa", "xoxr", "xoxs", "xoxc", "xoxe", "xoxe.xoxp", "xapp")
]
ANTHROPIC_KEY = "sk-ant-api03-AbCdEf_GhIjKl-MnOpQrStUv"
DISCORD_TOKEN = "MTE5ODc2NTQzMjEwOTg3NjU0.GhIjKl.AbCdEfGhIjKlMnOpQrStUvWxYz012345"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # no recognisable shape: masked by value
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTp0b2tlbg"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A real handler with the redaction filter, on a logger of its own (and on discord.http)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(SIGNING_SECRET, None)))
    loggers = [logging.getLogger("test.redaction"), logging.getLogger("discord.http")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield out
    for lg, level in zip(loggers, levels):
        lg.removeHandler(handler)
        lg.setLevel(level)


@pytest.mark.parametrize("secret", [*SLACK_TOKENS, ANTHROPIC_KEY, DISCORD_TOKEN, SIGNING_SECRET, "Bearer abc.def-ghi"])
def test_every_secret_kind_is_masked_in_messages(stream: io.StringIO, secret: str) -> None:
    logging.getLogger("test.redaction").warning("request with %s failed", secret)
    line = stream.getvalue()
    assert secret not in line and "request with [redacted] failed" in line


def test_tracebacks_are_masked(stream: io.StringIO) -> None:
    try:
        raise RuntimeError(f"auth failed for {SLACK_TOKENS[0]} and {ANTHROPIC_KEY}, secret {SIGNING_SECRET}")
    except RuntimeError:
        logging.getLogger("test.redaction").exception("could not post")
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError: auth failed for [redacted] and [redacted]" in text
    assert not any(s in text for s in (SLACK_TOKENS[0], ANTHROPIC_KEY, SIGNING_SECRET))


def test_stack_info_is_masked() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None, sinfo=f"stack {SLACK_TOKENS[5]}")
    RedactSecrets().filter(record)
    assert record.stack_info == "stack [redacted]"


def test_discord_http_debug_lines_never_show_an_interaction_token(stream: io.StringIO) -> None:
    """The exact calls discord.py's http logger makes at DEBUG, with an interaction's webhook URL."""
    url = f"https://discord.com/api/v10/webhooks/1234567890/{INTERACTION_TOKEN}/messages/@original"
    callback = f"https://discord.com/api/v10/interactions/998877/{INTERACTION_TOKEN}/callback"
    http = logging.getLogger("discord.http")
    http.debug("%s %s with %s has returned %s", "PATCH", url, '{"content": "hi"}', 200)
    http.debug("%s %s has received %s", "POST", callback, {"type": 4})
    text = stream.getvalue()
    assert INTERACTION_TOKEN not in text
    assert "/webhooks/1234567890/[redacted]/messages/@original" in text
    assert "/interactions/998877/[redacted]/callback" in text


def test_ordinary_text_is_left_alone(stream: io.StringIO) -> None:
    message = "Bot ready in 3 server(s); xoxo to everyone; lesson bot.cogs.lessons loaded"
    logging.getLogger("test.redaction").info(message)
    assert message in stream.getvalue()
