"""A circuit breaker for configuration errors: a rejected API key (401/403) or an unknown model (404).

No question can succeed until the operator fixes the setting, so after one such error the assistant answers
"not available" at once, without an API call, for ``cooldown`` seconds; the operator's log gets one line per
cooldown rather than one per question. After the cooldown the next question tries the API again.
"""

from __future__ import annotations

import time


class ConfigBreaker:
    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        """True while questions may go to the API."""
        return time.monotonic() >= self._open_until

    def trip(self) -> bool:
        """Open the breaker for a cooldown; True when it was closed (the caller then logs the error once)."""
        was_closed = self.closed
        if was_closed:
            self._open_until = time.monotonic() + self.cooldown
        return was_closed
