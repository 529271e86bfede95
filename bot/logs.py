"""Logging set-up. A filter masks anything that looks like a token, as a last line of defence."""

from __future__ import annotations

import logging
import re

# Discord bot tokens, Slack xox*/xapp tokens, Anthropic keys, Bearer headers.
_SECRET = re.compile(
    r"(xox[abprs]-[\w-]+|xapp-[\w-]+|sk-ant-[\w-]+|Bearer\s+[\w.\-]+|"
    r"[MNO][\w-]{23,25}\.[\w-]{6}\.[\w-]{27,38})"
)


class RedactSecrets(logging.Filter):
    """Replace token-shaped substrings in every record's message with ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("discord.gateway", "httpx", "httpx2", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
