"""The first-text floor the benchmark sets its figures against, checked on cases small enough to work out by hand."""

from __future__ import annotations

import pytest

from bench.floors import Budget, fewest_requests, first_text_floor, requests_per_answer, staleness_floor


def test_a_window_takes_its_burst_at_once_then_waits_for_the_oldest_to_leave() -> None:
    waits = first_text_floor([0.0] * 4, [[Budget(2, 1.0)]], latency=0.0)
    assert waits == [0.0, 0.0, 1.0, 1.0]


def test_answers_take_whichever_route_is_free_first() -> None:
    # Slack, one channel: 2 native stream starts a minute, or one chat.postMessage a second.
    routes = [[Budget(2, 60.0)], [Budget(1, 1.0)]]
    waits = first_text_floor([0.0] * 5, routes, latency=0.1)
    assert waits == pytest.approx([0.1, 0.1, 0.1, 1.1, 2.1])


def test_a_shared_global_budget_holds_every_route() -> None:
    shared = Budget(3, 1.0)  # the bot's global budget, every thread's post counts in it
    routes = [[Budget(5, 5.0), shared]]
    waits = first_text_floor([0.0, 0.0, 0.0, 0.0, 0.5], routes, latency=0.0)
    assert waits == pytest.approx([0.0, 0.0, 0.0, 1.0, 0.5])


def test_a_late_request_may_not_fill_a_window_that_is_already_full_later() -> None:
    budget = Budget(1, 1.0)
    budget.place(1.0)
    assert not budget.fits(0.5)
    assert budget.earliest(0.5) == 2.0
    assert budget.earliest(-0.5) == -0.5


def test_the_staleness_floor_spreads_an_answers_requests_evenly() -> None:
    assert staleness_floor(6.0, 3, latency=0.05) == pytest.approx(1.05)  # requests at 2, 4, 6 s
    assert staleness_floor(6.0, 0.5, latency=0.0) == pytest.approx(3.0)


def test_a_shared_budget_is_divided_between_the_answers() -> None:
    # 100 answers in 6 s under 50/s shared and 5 per 5 s each: the shared budget binds (3.5 each).
    assert requests_per_answer(100, 6.0, own=[(5, 5.0)], shared=[(50, 1.0)], mandatory_shared=0) == pytest.approx(3.5)
    # 10 answers: the thread's own bucket binds (11 each).
    assert requests_per_answer(10, 6.0, own=[(5, 5.0)], shared=[(50, 1.0)], mandatory_shared=0) == pytest.approx(11)


def test_a_route_with_no_shared_budget_is_never_held() -> None:
    assert first_text_floor([0.0, 0.0, 0.2], [[]], latency=0.05) == pytest.approx([0.05, 0.05, 0.05])


def test_an_answer_beyond_the_cap_costs_its_queue_notice_too() -> None:
    # 500 at once, 100 streaming: 100 answers at 2 requests, 400 at 3 (notice, partial text, final text).
    assert fewest_requests(500, 100, streamed=True) == pytest.approx((100 * 2 + 400 * 3) / 500)
    assert fewest_requests(500, 100, streamed=False) == pytest.approx((100 * 1 + 400 * 2) / 500)


def test_under_the_cap_no_answer_waits() -> None:
    assert fewest_requests(20, 100, streamed=True) == 2.0
    assert fewest_requests(20, 20, streamed=False) == 1.0


def test_a_floor_needs_answers_and_a_slot() -> None:
    with pytest.raises(ValueError):
        fewest_requests(10, 0, streamed=True)
