"""Cutting long text into messages: clean boundaries, fences, markup, Unicode, round trips."""

from __future__ import annotations

import itertools
import random
import unicodedata

import pytest

from bot.core.streaming.chunking import FENCE_CLOSE, cut_point, fence_after, split_message
from tests.limit_sinks import rejoin


def test_short_text_is_one_message() -> None:
    assert split_message("hello", 2000) == ["hello"]
    assert split_message("", 2000) == []


def test_prefers_a_paragraph_break_in_the_second_half() -> None:
    first = "word " * 30 + "\n\n"
    text = first + "more words here " * 10
    pieces = split_message(text, 200)
    assert pieces[0] == first
    assert "".join(pieces) == text


def test_prefers_a_line_break_over_a_later_space() -> None:
    text = "alpha beta\n" * 8 + "gamma " * 40
    pieces = split_message(text, 100)
    assert pieces[0].endswith("\n")
    assert "".join(pieces) == text


def test_cuts_between_words_and_keeps_the_space_with_the_earlier_message() -> None:
    text = " ".join(f"w{i}" for i in range(200))
    pieces = split_message(text, 50)
    assert all(len(piece) <= 50 for piece in pieces)
    assert all(piece.endswith(" ") for piece in pieces[:-1])
    assert all(not piece[0].isspace() for piece in pieces)
    assert "".join(pieces) == text


def test_a_limit_long_word_is_cut_hard_and_ends() -> None:
    text = "x" * 5000
    pieces = split_message(text, 2000)
    assert [len(piece) for piece in pieces] == [1996, 1996, 1008]  # room kept for a closing fence
    assert "".join(pieces) == text


def test_a_hard_cut_never_splits_a_surrogate_pair() -> None:
    pair = "\ud83d\ude00"  # a UTF-16 pair, as text decoded with "surrogatepass" holds it
    text = "a" + pair * 100
    for piece in split_message(text, 20):
        assert len(piece) <= 20
        assert not ("\ud800" <= piece[-1] <= "\udbff")
        assert not ("\udc00" <= piece[0] <= "\udfff")
    assert "".join(split_message(text, 20)) == text


@pytest.mark.parametrize("unit", ["e\u0301", "👍🏽", "👩\u200d💻", "1\ufe0f\u20e3"])
def test_a_hard_cut_keeps_combining_marks_and_joined_emoji_whole(unit: str) -> None:
    text = unit * 60
    pieces = split_message(text, 25)
    for piece in pieces:
        assert len(piece) <= 25
        assert piece.startswith(unit[0]), f"piece starts inside a grapheme: {piece[:3]!r}"
        assert not unicodedata.combining(piece[0])
    assert "".join(pieces) == text


@pytest.mark.parametrize(
    "token",
    [
        "<@123456789012345678>",
        "<#C0123|general chat room>",
        "<https://example.com/a|the docs page>",
        "**bold words in here**",
        "||spoiler with spaces||",
        "`code with spaces`",
        "[a link label](https://example.com/x)",
    ],
)
def test_never_cuts_inside_markup(token: str) -> None:
    for lead in range(1, 40):  # move the token across the cut
        text = "ab " * lead + token + " tail" * 20
        pieces = split_message(text, 60)
        assert any(token in piece for piece in pieces), f"{token!r} was cut at lead {lead}: {pieces}"
        assert "".join(pieces) == text


def test_a_long_url_is_cut_before_it_when_possible() -> None:
    url = "https://example.com/" + "p" * 30
    text = "x" * 30 + url + " end"
    assert cut_point(text, 55) == 30


def test_an_open_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "".join(f"print({i})\n" for i in range(300))
    text = "Here is code:\n```python\n" + code + "```\nDone."
    pieces = split_message(text, 500)
    assert len(pieces) > 2
    assert all(len(piece) <= 500 for piece in pieces)
    for earlier, later in itertools.pairwise(pieces):
        if earlier.endswith(FENCE_CLOSE):
            assert later.startswith("```python\n")
    assert pieces[1].startswith("```python\n")
    assert pieces[0].endswith("\n" + FENCE_CLOSE)  # cut at a line break, never inside a code line
    assert rejoin(pieces) == text


def test_inside_a_fence_only_line_breaks_are_clean() -> None:
    text = "```\n" + "a b c d e f g h i j k l m n o p\n" * 20 + "```"
    for piece in split_message(text, 120)[:-1]:
        assert piece.endswith("\n" + FENCE_CLOSE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no code", None),
        ("```python\nx = 1\n", "python"),
        ("```\nx\n", ""),
        ("```py\nx\n```\n", None),
        ("inline ```x``` only", None),
        ("```c++\n", "c++"),
        ("```" + "w" * 40 + "\n", ""),  # too long to be a language
    ],
)
def test_fence_after(text: str, expected: str | None) -> None:
    assert fence_after(text) == expected


def test_fence_after_continues_an_open_block() -> None:
    assert fence_after("x = 1\n```\n", "python") is None
    assert fence_after("x = 1\n", "python") == "python"


def test_limits_too_small_for_the_fences_are_refused() -> None:
    with pytest.raises(ValueError):
        split_message("```python\n" + "x\n" * 50, 12)
    with pytest.raises(ValueError):
        split_message("abcdef", 4)
    with pytest.raises(ValueError):
        cut_point("abc", 0)


_ALPHABET = ["word", "漢字かな", "😀", "👩\u200d💻", "e\u0301", "<@42>", "**bold it**", "https://x.io/a", "a" * 70]
_SEPARATORS = [" ", " ", " ", "\n", "\n\n", "  "]


def _fuzzed_text(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        if rng.random() < 0.04:
            body = "".join(f"line {rng.choice(_ALPHABET)} {n}\n" for n in range(rng.randint(1, 60)))
            part = f"```{rng.choice(['', 'python', 'js'])}\n{body}```\n"
        else:
            part = rng.choice(_ALPHABET) + rng.choice(_SEPARATORS)
        parts.append(part)
        size += len(part)
    return "".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_fuzzed_texts_round_trip_within_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([100, 300, 2000, 4000])
    text = _fuzzed_text(rng, rng.randint(limit // 2, limit * 5))
    pieces = split_message(text, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert rejoin(pieces) == text
