"""Links in model output cannot deceive (bot.core.links), as Discord shows them (Markdown links)."""

from __future__ import annotations

import pytest

from bot.core.links import honest_links, is_safe_url, shown_address_differs


@pytest.mark.parametrize("text", [
    "See [the docs](https://docs.python.org/3/library/asyncio.html).",
    "[python.org](https://docs.python.org/3/)",  # a parent of the target's host is honest
    "[www.GitHub.com](https://github.com/anthropics)",
    "[https://example.com/a](https://example.com/b)",
    "[Foo](https://en.wikipedia.org/wiki/Foo_(bar))",
    '[titled](<https://example.com> "a title")',
    "no links at all, just [brackets] and (parentheses)",
])
def test_honest_links_are_left_alone(text: str) -> None:
    assert honest_links(text) == text


@pytest.mark.parametrize(("text", "shown"), [
    ("log in at [paypal.com](https://evil.example/login)", "log in at paypal.com (<https://evil.example/login>)"),
    ("[https://paypal.com/login](https://paypal.com.evil.io/login)",
     "https://paypal.com/login (<https://paypal.com.evil.io/login>)"),
    ("[**bank.com**](https://phish.example)", "**bank.com** (<https://phish.example>)"),
    ("[paypal.com](https://paypal.com@evil.io/)", "paypal.com (<https://paypal.com@evil.io/>)"),
])
def test_a_link_whose_text_is_another_address_shows_its_real_target(text: str, shown: str) -> None:
    assert honest_links(text) == shown


@pytest.mark.parametrize(("text", "shown"), [
    ("[click me](javascript:alert(1))", "click me"),
    ("[open](JavaScript:void(0)) now", "open now"),
    ("[image](data:text/html;base64,PHNjcmlwdD4=)", "image"),
    ("[x](vbscript:msgbox) [y](file:///etc/passwd) [z](//evil.example/)", "x y z"),
    ("[docs.python.org](javascript:alert(1))", "docs.python.org"),
])
def test_links_to_other_schemes_lose_their_target(text: str, shown: str) -> None:
    assert honest_links(text) == shown


def test_code_is_not_touched() -> None:
    text = "`[a.com](javascript:x)`\n\n```md\n[paypal.com](https://evil.example)\n```\nthen [a.com](javascript:x)"
    assert honest_links(text) == "`[a.com](javascript:x)`\n\n```md\n[paypal.com](https://evil.example)\n```\nthen a.com"


def test_an_unfinished_link_stays_as_typed_until_it_is_complete() -> None:
    """While an answer streams, a half-received link is not yet a link."""
    assert honest_links("see [paypal.com](https://evil.exa") == "see [paypal.com](https://evil.exa"


def test_url_and_address_checks() -> None:
    assert is_safe_url("https://example.com/x") and is_safe_url("HTTP://example.com")
    assert not any(map(is_safe_url, ["javascript:alert(1)", "data:,x", "https://", "/relative", "mailto:a@b.c"]))
    assert shown_address_differs("paypal.com", "https://evil.example")
    assert not shown_address_differs("Click here", "https://evil.example")  # not an address: nothing to contradict
    assert not shown_address_differs("python.org", "https://docs.python.org")
