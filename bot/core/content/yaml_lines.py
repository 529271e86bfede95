"""YAML parsing that remembers where things are, so content errors can name a line.

Mappings and sequences come back as ``YamlMap`` / ``YamlList``: ordinary ``dict`` / ``list``
subclasses that also carry the 1-based line of themselves, of each key and of each item.
Scalars stay plain Python values. Uses libyaml's C parser when PyYAML was built with it
(content loading is on the start-up path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class YamlMap(dict[Any, Any]):
    """A mapping with ``line`` (its first line), ``key_lines`` and ``value_lines``."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]

    def line_of(self, key: object) -> int:
        """The line of ``key``'s value, or of the mapping itself when the key is absent."""
        return self.value_lines.get(key, self.line)


class YamlList(list[Any]):
    """A sequence with ``line`` (its first line) and ``item_lines``."""

    line: int
    item_lines: list[int]


class YamlSyntaxError(Exception):
    """The text is not valid YAML; ``line`` is 1-based, ``message`` is fit for an author."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class _LineLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader whose mappings and sequences record line numbers (shifted by ``first_line``)."""

    def __init__(self, stream: str, first_line: int) -> None:
        super().__init__(stream)
        self.first_line = first_line
        self.duplicates: list[tuple[int, str]] = []

    def line(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[YamlMap]:
    data = YamlMap()
    data.line = loader.line(node)
    data.key_lines = {}
    data.value_lines = {}
    yield data
    loader.flatten_mapping(node)  # resolves "<<" merge keys
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or mapping", key_node.start_mark
            )
        key_line = loader.line(key_node)
        if key in data:
            first = data.key_lines[key]
            loader.duplicates.append((key_line, f"'{key}' appears twice in this mapping (first on line {first})"))
            continue
        data[key] = loader.construct_object(value_node)
        data.key_lines[key] = key_line
        data.value_lines[key] = loader.line(value_node)


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[YamlList]:
    data = YamlList()
    data.line = loader.line(node)
    data.item_lines = [loader.line(item) for item in node.value]
    yield data
    data.extend(loader.construct_object(item) for item in node.value)


_LineLoader.add_constructor(_MAP_TAG, _construct_map)
_LineLoader.add_constructor(_SEQ_TAG, _construct_seq)

_COLON_HINT = "quote a value that contains ': ' (or write it as a '|' block), or check the indentation"


def _hint(problem: str, text: str, mark: yaml.Mark | None) -> str:
    """A fix for the usual authoring slips, judged from the character the parser stopped at."""
    if "mapping values are not allowed" in problem:
        return _COLON_HINT
    if mark is None or "cannot start any token" not in problem:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    char = line[mark.column : mark.column + 1]
    if char == "\t":
        return "indent with spaces, not tabs"
    if char in ("@", "`", "%"):
        return f"a value that starts with '{char}' must be quoted"
    return ""


def _friendly(error: yaml.MarkedYAMLError, text: str, first_line: int) -> YamlSyntaxError:
    mark = error.problem_mark or error.context_mark
    line = (mark.line + first_line) if mark is not None else first_line
    problem = error.problem or error.context or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    context = error.context_mark
    if error.problem and error.context and context is not None and mark is not None and context.line != mark.line:
        message += f" ({error.context} started on line {context.line + first_line})"
    hint = _hint(problem, text, mark)
    return YamlSyntaxError(line, f"{message}; {hint}" if hint else message)


def parse_yaml(text: str, first_line: int = 1) -> tuple[Any, list[tuple[int, str]]]:
    """Parse one YAML document; ``first_line`` is the file line the text starts on.

    Returns the data and the duplicate-key problems (``(line, message)``) that YAML itself
    would silently resolve by keeping the last value. Raises ``YamlSyntaxError``.
    """
    loader = _LineLoader(text, first_line)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as error:
        raise _friendly(error, text, first_line) from None
    except yaml.YAMLError as error:  # unmarked: e.g. bad encoding
        raise YamlSyntaxError(first_line, f"YAML syntax error: {error}") from None
    finally:
        loader.dispose()


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Split ``---`` front matter from a Markdown file.

    Returns ``(front_matter, body, body_first_line)`` (the front matter starts on line 2),
    or ``None`` when the file does not open with a closed ``---`` block.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None
