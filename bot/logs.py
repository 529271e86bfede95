"""Logging set-up. A filter masks anything that looks like a secret, as a last line of defence.

It masks the message, the traceback and the stack of every record: an exception's text can quote a token
(a failed request's URL, a header) as easily as a message can.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr

REDACTED = "[redacted]"
# Slack tokens of every kind (xoxb, xoxp, xoxa, xoxr, xoxs, xoxc, xoxe and xoxe.xoxp refresh tokens, xapp),
# Anthropic keys, Authorization headers, Discord bot tokens.
_SECRET = re.compile(
    r"(xox[a-z](?:\.xox[a-z])?-[\w-]+|xapp-[\w-]+|sk-ant-[\w-]+|Bearer\s+[\w.\-]+|Bot\s+[\w.\-]{20,}|"
    r"[\w-]{24,28}\.[\w-]{6}\.[\w-]{27,38})"
)
# An interaction's token is in its webhook and callback URLs (discord.py's http logger prints them at DEBUG).
_INTERACTION_URL = re.compile(r"(/(?:webhooks|interactions)/\d+/)[\w.\-]+")


class RedactSecrets(logging.Filter):
    """Replace secret-shaped substrings, and the given secret values, with ``[redacted]`` in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def redact(self, text: str) -> str:
        text = _INTERACTION_URL.sub(rf"\1{REDACTED}", _SECRET.sub(REDACTED, text))
        return self._values.sub(REDACTED, text) if self._values else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secret_values(*secrets: SecretStr | str | None) -> list[str]:
    """The plain values of the settings' secrets that are set (for :func:`setup_logging`)."""
    return [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets if s]


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr; ``secrets`` (the configured tokens, keys and signing secret) never appear in a line."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("discord.gateway", "httpx", "httpx2", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
