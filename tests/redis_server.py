"""A real Redis server for the tests: ``redis-server`` in a temporary folder, on a free 127.0.0.1 port.

One server per test session (``redis_server``); ``redis_url`` hands each test that server, emptied after the
test. A test that stops Redis on purpose asks for ``own_redis``: a server of its own that it may ``kill`` and
``start`` again on the same port. No persistence: a restarted server is empty, as after a real crash without
a snapshot. ``.ci/run`` installs ``redis-server`` (Debian's package) when it is missing; without it these tests
are skipped with that reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

PROGRAM = "redis-server"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1; ``url`` stays the same across ``kill`` and ``start``."""

    def __init__(self) -> None:
        program = shutil.which(PROGRAM)
        if program is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
        self.program = program
        self.folder = Path(tempfile.mkdtemp(prefix="coursebot-redis-"))
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "no", "--logfile", str(self.folder / "server.log"),
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def flush(self) -> None:
        with redis.Redis(port=self.port) as client:
            client.flushall()

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def running() -> Iterator[RedisServer]:
    """A started server of its own, removed afterwards."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the whole test session."""
    with running() as server:
        yield server


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> AsyncIterator[str]:
    """The session server's URL; everything the test wrote is removed afterwards."""
    try:
        yield redis_server.url
    finally:
        redis_server.flush()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, which it may kill and start again."""
    with running() as server:
        yield server
