"""The best any scheduler could do under a platform's budgets: the floors measured figures are set against.

First texts: every answer's first text is one request, and a request may go by any of several routes (Slack:
``chat.startStream`` under the workspace's Tier 2 window, or ``chat.postMessage`` under the channel's); a route
is the list of sliding windows the request counts in (Discord: the thread's post bucket and the bot's global
budget). Serving the answers in the order they were asked, each at the earliest moment some route has room in
all its windows, is optimal for identical one-request jobs (swapping two answers' slots never lowers both), so
:func:`first_text_floor` is the floor of every percentile of first-text latency, not only of the mean.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

Window = tuple[int, float]  # (requests, seconds)


@dataclass
class Budget:
    """One sliding window: at most ``count`` requests in any ``period`` seconds. Share one object between the
    routes that count in the same window (Discord's global budget)."""

    count: int
    period: float
    stamps: list[float] = field(default_factory=list)

    def earliest(self, at: float) -> float:
        """The earliest moment >= ``at`` a request fits, given the requests already placed (in any order).

        Room can only appear when a placed request leaves the window, so the candidates are ``at`` and the
        moments ``period`` after each placed request.
        """
        later = (stamp + self.period for stamp in self.stamps[bisect.bisect_right(self.stamps, at - self.period) :])
        return next(t for t in (at, *later) if t >= at and self.fits(t))

    def fits(self, at: float) -> bool:
        """No ``count + 1`` requests, this one among them, within less than ``period``."""
        index = bisect.bisect_left(self.stamps, at)
        around = [*self.stamps[max(0, index - self.count) : index], at, *self.stamps[index : index + self.count]]
        return all(around[i + self.count] - around[i] >= self.period for i in range(len(around) - self.count))

    def place(self, at: float) -> None:
        bisect.insort(self.stamps, at)


def first_text_floor(arrivals: Sequence[float], routes: Sequence[Sequence[Budget]], latency: float) -> list[float]:
    """For answers asked at ``arrivals`` (seconds), the earliest each first text can be on screen, minus its
    ask time; ``routes`` are the alternative ways to send one (each the budgets it counts in)."""
    waits = []
    for asked in sorted(arrivals):
        best_at, best_route = None, None
        for route in routes:
            at = asked
            while (moved := max((budget.earliest(at) for budget in route), default=at)) > at:
                at = moved
            if best_at is None or at < best_at:
                best_at, best_route = at, route
        assert best_at is not None and best_route is not None, "at least one route is needed"
        for budget in best_route:
            budget.place(best_at)
        waits.append(best_at - asked + latency)
    return waits


def window_capacity(window: Window, span: float) -> float:
    """The most requests a sliding window lets through in ``span`` seconds (a full burst, then one full
    window per period)."""
    count, period = window
    return count * (span / period + 1)


def staleness_floor(answer_s: float, requests: float, latency: float) -> float:
    """Best mean staleness of an answer whose tokens arrive evenly over ``answer_s`` seconds and that may make
    ``requests`` requests showing text: spread evenly, the last at the end, a token waits half an interval."""
    if requests < 1:
        return answer_s / 2 + latency  # not even a final request fits: the bound of one at the end
    return answer_s / (2 * requests) + latency


def requests_per_answer(
    answers: int, span: float, own: Sequence[Window], shared: Sequence[Window], mandatory_shared: float
) -> float:
    """Requests one answer can make at most when ``answers`` answers stream within ``span`` seconds: its own
    windows (a Discord thread's bucket) cap it, the shared ones (Discord's global budget, Slack's workspace
    tier) are divided evenly, after ``mandatory_shared`` requests each answer needs there that show no text
    (a first post showing nothing yet is not needed: the first request may carry text)."""
    caps = [window_capacity(window, span) for window in own]
    caps += [window_capacity(window, span) / answers - mandatory_shared for window in shared]
    return min(caps) if caps else float("inf")


def fewest_requests(answers: int, streaming: int, *, streamed: bool) -> float:
    """The fewest requests an answer can cost when ``answers`` ask at once and at most ``streaming`` stream at
    a time (``COURSEBOT_MAX_CONCURRENT_ANSWERS``), whatever the budgets: every answer shows its complete text
    (one request), a ``streamed`` one a partial text before it (one more), and every answer beyond the cap
    first tells its learner that it waits (one more: the message its text later fills)."""
    if answers < 1 or streaming < 1:
        raise ValueError("at least one answer and one streaming slot are needed")
    each = 2 if streamed else 1
    return each + max(0, answers - streaming) / answers
