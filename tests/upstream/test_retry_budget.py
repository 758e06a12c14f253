"""The retry budget (SPEC 12): retries add at most 20 % + 3 to a 10 s window's first tries."""

from __future__ import annotations

from proxy.upstream.retry_budget import RetryBudget


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_three_retries_are_free_then_one_per_five_first_tries():
    budget = RetryBudget(clock=Clock())
    budget.first_try("t", "r")
    assert [budget.spend("t", "r") for _ in range(4)] == [True, True, True, False]
    for _ in range(3):
        budget.first_try("t", "r")
    assert not budget.spend("t", "r")  # 4 firsts: at most 3.8 retries
    budget.first_try("t", "r")
    assert budget.spend("t", "r")  # 5 firsts: 4
    assert not budget.spend("t", "r")


def test_the_window_forgets_after_ten_seconds_and_keys_are_separate():
    clock = Clock()
    budget = RetryBudget(clock=clock)
    for _ in range(3):
        assert budget.spend("t", "r")
    assert not budget.spend("t", "r")
    assert budget.spend("other", "r") and budget.spend("t", "other")
    clock.now += 9
    assert not budget.spend("t", "r")
    clock.now += 1
    assert budget.spend("t", "r")


def test_an_outage_at_c20_for_10_s_adds_at_most_20_percent_plus_3():
    """20 clients, every try failing, each request wanting 2 retries, 10 s on a clock."""
    clock = Clock()
    budget = RetryBudget(clock=clock)
    firsts = extra = 0
    for tick in range(1000):  # 10 s in 10 ms steps; 20 requests start per step
        clock.now = 500.0 + tick / 100
        for _ in range(20):
            budget.first_try("t", "r")
            firsts += 1
            for _ in range(2):
                if not budget.spend("t", "r"):
                    break
                extra += 1
    assert firsts == 20_000
    assert extra <= 0.2 * firsts + 3
    assert extra >= 0.2 * firsts  # the budget is used, not starved
