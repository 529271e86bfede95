"""Lesson Markdown split into platform-free blocks: the one parser the Discord and Slack renderers share."""

from __future__ import annotations

import pytest

from bot.core.content.markdown import (
    Code,
    Heading,
    ListBlock,
    ListItem,
    Paragraph,
    Quote,
    Renderer,
    Table,
    aligned,
    parse_blocks,
)


@pytest.mark.parametrize(
    ("markdown", "code"),
    [
        ("```python\nx = 1\n\ny = 2\n```", Code("python", "x = 1\n\ny = 2")),
        ("~~~ bash extra words\nls\n~~~", Code("bash", "ls")),
        ("```\nplain\n```", Code("", "plain")),
        ("````markdown\n```python\nx\n```\n````", Code("markdown", "```python\nx\n```")),
        ("~~~\n```\nstill code\n~~~", Code("", "```\nstill code")),
        ("```python\nnever closed\n", Code("python", "never closed")),
    ],
)
def test_fenced_code_keeps_its_language_and_text(markdown: str, code: Code) -> None:
    assert parse_blocks(markdown) == [code]


def test_nothing_inside_a_fence_is_markup() -> None:
    markdown = "Before:\n```text\n| a | b |\n|---|---|\n# not a heading\n- not an item\n> not a quote\n```\nAfter."
    assert parse_blocks(markdown) == [
        Paragraph("Before:"),
        Code("text", "| a | b |\n|---|---|\n# not a heading\n- not an item\n> not a quote"),
        Paragraph("After."),
    ]


def test_a_fence_indented_under_a_list_item_loses_that_indentation() -> None:
    assert parse_blocks("1. Run:\n   ```bash\n   pip install x\n     --upgrade\n   ```\n2. Done") == [
        ListBlock((ListItem("Run:", 1),)),
        Code("bash", "pip install x\n  --upgrade"),
        ListBlock((ListItem("Done", 2),)),
    ]


def test_three_backticks_on_one_line_are_inline_code_not_a_fence() -> None:
    assert parse_blocks("```code``` inline\nmore") == [Paragraph("```code``` inline more")]


def test_table_cells_alignment_and_escaped_pipes() -> None:
    markdown = (
        "| Operator | Example | Count |\n"
        "|:---|:-:|--:|\n"
        "| or | `a \\| b` | 1 |\n"
        "| **and** | `a & b` |\n"
        "| | | 10 | extra |"
    )
    assert parse_blocks(markdown) == [Table(
        header=("Operator", "Example", "Count", ""),
        rows=(("or", "`a | b`", "1", ""), ("**and**", "`a & b`", "", ""), ("", "", "10", "extra")),
        align=("left", "center", "right", "left"),
    )]


def test_a_table_needs_its_rule_row_and_ends_at_the_first_line_without_a_pipe() -> None:
    assert parse_blocks("| not | a table |\nsecond line") == [Paragraph("| not | a table | second line")]
    assert parse_blocks("Intro\n| a | b\n|---|---\n| 1 | 2\nAfter") == [
        Paragraph("Intro"),
        Table(("a", "b"), (("1", "2"),), ("left", "left")),
        Paragraph("After"),
    ]


def test_aligned_columns_drop_inline_marks_and_follow_the_rule_row() -> None:
    [table] = parse_blocks("| n | **name** |\n|--:|:-:|\n| 1 | `x` |\n| 100 | yyyy |")
    assert isinstance(table, Table)
    assert aligned(table) == ["  n | name", "----+-----", "  1 |  x", "100 | yyyy"]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("# Title", Heading(1, "Title")),
        ("### Deep ###", Heading(3, "Deep")),
        ("###### Using C#", Heading(6, "Using C#")),
    ],
)
def test_headings(line: str, heading: Heading) -> None:
    assert parse_blocks(line) == [heading]


def test_a_hash_without_a_space_is_text() -> None:
    assert parse_blocks("A line\n#hashtag continues it\n####### seven") == [
        Paragraph("A line #hashtag continues it ####### seven")]


def test_lists_nested_numbered_and_wrapped() -> None:
    markdown = (
        "1. First `step`\n"
        "   - detail that\n"
        "     wraps\n"
        "   * another\n"
        "2) Second\n"
        "lazily continued\n"
        "10. Tenth\n"
        "\n"
        "+ after a blank line"
    )
    assert parse_blocks(markdown) == [
        ListBlock((
            ListItem("First `step`", 1),
            ListItem("detail that wraps", None, 3),
            ListItem("another", None, 3),
            ListItem("Second lazily continued", 2),
            ListItem("Tenth", 10),
        )),
        ListBlock((ListItem("after a blank line"),), blank_before=True),
    ]


def test_paragraphs_join_wrapped_lines_and_keep_blank_lines_between_blocks() -> None:
    markdown = "\n\nA paragraph that was\n  hard wrapped.  \n\n\n\nSecond.\n## Heading right after\n- item"
    assert parse_blocks(markdown) == [
        Paragraph("A paragraph that was hard wrapped."),
        Paragraph("Second.", blank_before=True),
        Heading(2, "Heading right after"),
        ListBlock((ListItem("item"),)),
    ]


def test_quotes_join_their_lines_and_an_empty_quote_line_splits_them() -> None:
    assert parse_blocks("> quoted\n> text\nlazy\n>\n> second\n- item") == [
        Quote("quoted text lazy"),
        Quote("second", blank_before=True),
        ListBlock((ListItem("item"),)),
    ]


def test_crlf_line_ends_parse_like_lf() -> None:
    markdown = "A\nwrapped\n\n| a | b |\n|---|---|\n| 1 | 2 |\n```py\nx\n```\n- item\n"
    assert parse_blocks(markdown.replace("\n", "\r\n")) == parse_blocks(markdown)
    assert parse_blocks(markdown.replace("\n", "\r\n"))[-1] == ListBlock((ListItem("item"),))


class Shouting(Renderer):
    """A renderer that marks what it drew, to show which part drew each block."""

    bullet = "*"
    table_width = 20

    def inline(self, text: str) -> str:
        return text.upper()

    def wide_table(self, table: Table) -> str:
        return "; ".join(" / ".join(row) for row in table.rows)


def test_a_renderer_keeps_the_sources_spacing_and_draws_shared_blocks_once() -> None:
    markdown = ("One\ntwo\n\n\n### Three\n```py\ncode\n```\n> quote\n\n1. first\n  - sub\n\n"
                "| a | b |\n|---|--:|\n| x | 10 |")
    assert Shouting().render(markdown).split("\n") == [
        "ONE TWO", "", "### THREE", "```py", "code", "```", "> QUOTE", "", "1. FIRST", "  * SUB", "",
        "```", "a |  b", "--+---", "x | 10", "```",
    ]
    assert Shouting().render("") == ""


@pytest.mark.parametrize(
    ("markdown", "drawn"),
    [
        ("| a long header | another long one |\n|---|---|\n| x | y |", "x / y"),
        ("| a long header | another long one |\n|---|---|", "```\na long header | another long one\n"
                                                           "--------------+-----------------\n```"),
        ("| a single column that is long |\n|---|\n| x |", "```\na single column that is long\n"
                                                          "----------------------------\nx\n```"),
    ],
)
def test_only_a_wide_table_with_rows_and_columns_is_drawn_by_the_platform(markdown: str, drawn: str) -> None:
    assert Shouting().render(markdown) == drawn
