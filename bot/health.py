"""The heartbeat file: written by a running bot, read by ``coursebot health`` (the Docker HEALTHCHECK).

It is a small JSON document next to the database: when it was written, and each platform connection's state
(connected or not, since when). Its modification time is the heartbeat; a connection down for longer than
``DOWN_LIMIT`` seconds makes the bot unhealthy even though the process is still beating. A service the bot can
run without (Redis: each process then keeps to its share of the budgets) is reported degraded: still healthy,
with the reason.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

DOWN_LIMIT = 60.0
CONNECTION_NAMES = {"discord": "Discord gateway", "slack": "Slack socket"}


def heartbeat_path(db: Path) -> Path:
    return db.with_name(db.name + ".heartbeat")


class Connections:
    """Each platform's connection state; every change is written to the heartbeat file at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: dict[str, tuple[bool, float]] = {}
        self._degraded: dict[str, tuple[str, float]] = {}  # service -> (what works only in part, since)

    def expect(self, name: str) -> None:
        """``name`` is starting: down until it connects (so one that never connects turns unhealthy too)."""
        self._state[name] = (False, time.time())
        self.write()

    def set(self, name: str, connected: bool) -> None:
        if name in self._state and self._state[name][0] == connected:
            return
        self._state[name] = (connected, time.time())
        self.write()

    def degrade(self, name: str, reason: str | None) -> None:
        """Service ``name`` works only in part (``reason``), or again fully (None)."""
        if reason is None:
            if self._degraded.pop(name, None) is None:
                return
        else:
            self._degraded[name] = (reason, time.time())
        self.write()

    def write(self) -> None:
        """Rewrite the file atomically (a reader never sees half a document); its mtime is the heartbeat."""
        body = {
            "platforms": {name: {"connected": up, "since": since} for name, (up, since) in self._state.items()},
            "degraded": {name: {"reason": reason, "since": since} for name, (reason, since) in self._degraded.items()},
        }
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # processes sharing a path never collide
        partial.write_text(json.dumps(body), encoding="utf-8")
        os.replace(partial, self.path)


@dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str  # why unhealthy; while healthy, what works only in part ("" when everything works)

    @property
    def summary(self) -> str:
        if not self.healthy:
            return f"unhealthy: {self.reason}"
        return f"healthy, degraded: {self.reason}" if self.reason else "healthy"


def check(path: Path, *, max_age: float, now: float | None = None) -> Health:
    """Healthy when the heartbeat is at most ``max_age`` s old and no connection has been down over a minute."""
    now = time.time() if now is None else now
    try:
        age = now - path.stat().st_mtime
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Health(False, "no heartbeat: the bot is not running")
    if age > max_age:
        return Health(False, f"no heartbeat for {age:.0f} s")
    try:
        document = json.loads(text) if text.strip() else {}
        platforms, degraded = document.get("platforms", {}), document.get("degraded", {})
    except (ValueError, AttributeError):
        return Health(False, "the heartbeat file is unreadable")
    down = [
        f"{CONNECTION_NAMES.get(name, name)} down for {now - state['since']:.0f} s"
        for name, state in sorted(platforms.items())
        if not state.get("connected") and now - float(state.get("since", now)) > DOWN_LIMIT
    ]
    if down:
        return Health(False, "; ".join(down))
    return Health(True, "; ".join(
        f"{state['reason']} (for {now - float(state.get('since', now)):.0f} s)" for _, state in sorted(degraded.items())
    ))
