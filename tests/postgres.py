"""A real PostgreSQL server for the tests: initdb and pg_ctl into a temporary folder, on a free 127.0.0.1 port.

One server per test session (``postgres_server``); each test that asks for ``postgres_dsn`` gets a fresh,
empty database on it. ``store_target`` (tests/conftest.py) runs a store test once on a SQLite file and once
on such a database, and ``StoreTarget`` reads what is really stored there over a separate connection.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as ``nobody`` with its
folder owned by that user. The binaries (``initdb``, ``pg_ctl``) come from PATH or
/usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from bot.core.store import is_postgres

SUPERUSER = "coursebot"


@dataclass(frozen=True)
class StoreTarget:
    """A ``COURSEBOT_DB`` value under test (``url``: a SQLite path or a PostgreSQL DSN) and a raw reader for it."""

    url: str

    @property
    def backend(self) -> str:
        return "postgres" if is_postgres(self.url) else "sqlite"

    async def rows(self, sql: str, *params: object) -> list[tuple]:
        """Rows read over a connection of their own (``?`` placeholders on both backends): what is committed."""
        if self.backend == "sqlite":
            with closing(sqlite3.connect(self.url)) as db:
                return db.execute(sql, params).fetchall()
        numbered = iter(range(1, sql.count("?") + 1))
        db = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await db.fetch(re.sub(r"\?", lambda _: f"${next(numbered)}", sql), *params)]
        finally:
            await db.close()

    async def value(self, sql: str, *params: object) -> object:
        """The first column of the first row (a count, a name)."""
        return (await self.rows(sql, *params))[0][0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server; ``dsn(name)`` addresses one of its databases."""

    folder: Path
    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A fresh empty database (copied from template1, which is fast); its DSN."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        admin = await asyncpg.connect(self.dsn())
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.dsn(name)

    async def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[-1]
        admin = await asyncpg.connect(self.dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _program(name: str) -> str:
    """A PostgreSQL program: on PATH, or where Debian's packages put it (/usr/lib/postgresql/<version>/bin)."""
    found = shutil.which(name) or next(
        (str(path) for path in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} is not on PATH: install PostgreSQL (e.g. apt-get install postgresql)")
    return found


def _as_server_user(command: list[str]) -> None:
    """Run a PostgreSQL program, as ``nobody`` when we are root (the server refuses root)."""
    user = "nobody" if os.geteuid() == 0 else None
    command = [_program(command[0]), *command[1:]]
    subprocess.run(command, check=True, capture_output=True, user=user, group=None if user is None else "nogroup")


def start_server(*, durable: bool = False) -> PostgresServer:
    """initdb into a new temporary folder and start a server on a free port.

    Not ``durable`` (the tests): fsync and synchronous commit off, test data only. Durable (benchmarks): the
    server's defaults, every commit flushed to disk.
    """
    folder = Path(tempfile.mkdtemp(prefix="coursebot-pg-"))  # under /tmp: reachable by the server user
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    data, port = folder / "data", _free_port()
    _as_server_user(["initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"])
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    _as_server_user(["pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start"])
    return PostgresServer(folder, port)


def stop_server(server: PostgresServer) -> None:
    _as_server_user(["pg_ctl", "-D", str(server.folder / "data"), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session."""
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
async def postgres_dsn(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The DSN of a fresh, empty database of its own for this test (dropped afterwards)."""
    dsn = await postgres_server.create_database()
    try:
        yield dsn
    finally:
        await postgres_server.drop_database(dsn)
