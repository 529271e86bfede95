"""Links in model output that cannot deceive.

A Markdown link ``[text](url)`` shows ``text`` and goes to ``url``. The model's text is not trusted (a
prompt injection can ask for any link), so before it is shown:

* a link to anything but ``http``/``https`` (``javascript:``, ``data:``, ``file:``…) loses its target and
  becomes its text alone;
* a link whose text looks like a web address on another host (``[paypal.com](https://evil.example)``)
  is shown as its text followed by its real target, ``paypal.com (<https://evil.example>)``.

Code spans and fenced code are left alone (nothing in them is a link).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

SAFE_SCHEMES = frozenset({"http", "https"})
Verdict = Literal["link", "text", "text+target"]

_CODE_OR_LINK = re.compile(
    r"(?P<fence>^[ \t]*(?P<ticks>```+|~~~+)[^\n]*\n.*?(?:^[ \t]*(?P=ticks)[ \t]*$|\Z))"
    r"|(?P<code>`+)[^`].*?(?P=code)"
    r"|\[(?P<text>[^\[\]\n]+)\]\(\s*<?(?P<url>(?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+\"[^\"\n]*\")?\s*\)",
    re.MULTILINE | re.DOTALL,
)
# Text that reads as an address: an optional scheme, then a host with a dot, then an optional path.
_ADDRESS = re.compile(r"^(?:[a-z][a-z\d+.-]*:/*)?(?P<host>[\w-]+(?:\.[\w-]+)+)(?::\d+)?(?:[/?#]\S*)?$", re.I)


def is_safe_url(url: str) -> bool:
    """An absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.hostname)


def _host(name: str) -> str:
    name = name.lower().rstrip(".").removeprefix("www.")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def shown_address_differs(text: str, url: str) -> bool:
    """True when ``text`` reads as an address whose host is neither the target's host nor a parent of it."""
    match = _ADDRESS.match(text.strip().strip("*_~`<>"))
    if match is None:
        return False
    shown, target = _host(match["host"]), _host(urlsplit(url).hostname or "")
    return not (target == shown or target.endswith("." + shown))


def verdict(text: str, url: str) -> Verdict:
    """How to show ``[text](url)``: as the link, as its text alone, or as its text followed by its target."""
    if not is_safe_url(url):
        return "text"
    return "text+target" if shown_address_differs(text, url) else "link"


def honest_links(markdown: str, *, with_target: str = "{text} (<{url}>)") -> str:
    """``markdown`` with every link made honest (see the module's docstring); code is left as it is.

    ``with_target`` formats a deceptive link's text and real target (the default suits Discord: ``<url>``
    is a link there without a preview).
    """

    def replace(match: re.Match[str]) -> str:
        text, url = match["text"], match["url"]
        if text is None:
            return match[0]
        shown = verdict(text, url)
        if shown == "link":
            return match[0]
        return text if shown == "text" else with_target.format(text=text, url=url)

    return _CODE_OR_LINK.sub(replace, markdown)
