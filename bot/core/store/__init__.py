"""Persistence: the ``Store`` protocol (``base``) and its SQLite (``sqlite``) and PostgreSQL (``postgres``) twins.

``store_for(COURSEBOT_DB)`` picks the backend: a ``postgresql://`` (or ``postgres://``) URL is a PostgreSQL
database, anything else a SQLite file path (the embedded default).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.core.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def redacted(target: str | Path) -> str:
    """``target`` fit for a log line or a message: a URL's password is replaced by ``***``."""
    if not is_postgres(target):
        return str(target)
    parts = urlsplit(str(target))
    if parts.password is None:
        return str(target)
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def store_for(target: str | Path) -> Store:
    """The store (not yet open) for a ``COURSEBOT_DB`` value: a PostgreSQL URL or a SQLite file path."""
    if is_postgres(target):
        from bot.core.store.postgres import PostgresStore  # asyncpg is loaded only for PostgreSQL

        return PostgresStore(str(target))
    from bot.core.store.sqlite import SQLiteStore

    return SQLiteStore(target)
