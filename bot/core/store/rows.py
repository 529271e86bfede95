"""Row helpers both stores share: every table names its columns like the row type's fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Protocol, TypeVar

Row = TypeVar("Row")


class DatabaseRow(Protocol):
    """What ``sqlite3.Row`` and ``asyncpg.Record`` both offer."""

    def keys(self) -> Any: ...

    def __getitem__(self, key: str) -> Any: ...


def columns(model: type[Any], *, skip: tuple[str, ...] = ()) -> str:
    """The row type's fields as a column list."""
    return ", ".join(field.name for field in fields(model) if field.name not in skip)


def from_row(
    model: type[Row], row: DatabaseRow, convert: Mapping[str, Callable[[Any], Any]], **extra: Any,
) -> Row:
    """Build ``model`` from the row's columns named like its fields (``convert`` parses some of them)."""
    present = set(row.keys())
    values = {field.name: row[field.name] for field in fields(model) if field.name in present}
    for name, parse in convert.items():
        values[name] = parse(values[name])
    return model(**values, **extra)
