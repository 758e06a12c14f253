"""Backoff: exponential ceilings, capped, with full jitter under them."""

from __future__ import annotations

import random

import pytest

from proxy.backoff import Backoff


def test_ceilings_double_from_the_base_up_to_the_cap():
    backoff = Backoff(base=0.1, cap=2.0)
    assert [backoff.ceiling(n) for n in range(7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )


def test_a_cap_below_the_base_bounds_the_first_wait_too():
    assert Backoff(base=0.1, cap=0.05).ceiling(0) == 0.05


def test_waits_are_the_ceiling_scaled_by_the_jitter():
    draws = iter([0.0, 0.5, 0.999])
    backoff = Backoff(base=0.1, cap=5.0, jitter=lambda: next(draws))
    assert [backoff.delay(n) for n in (0, 1, 2)] == pytest.approx([0.0, 0.1, 0.3996])


def test_full_jitter_spreads_waits_over_the_whole_interval():
    rng = random.Random(12)
    backoff = Backoff(base=0.1, cap=2.0, jitter=rng.random)
    waits = [backoff.delay(3) for _ in range(2000)]
    assert all(0.0 <= w < 0.8 for w in waits)
    assert min(waits) < 0.05 and max(waits) > 0.75  # not bunched at the ceiling
    assert sum(waits) / len(waits) == pytest.approx(0.4, abs=0.03)


def test_an_outage_of_any_length_keeps_the_cap():
    # 0.1 * 2**1024 does not fit a float: a sender retrying for hours must not crash.
    backoff = Backoff(base=0.1, cap=5.0, jitter=lambda: 1.0)
    assert backoff.ceiling(1024) == 5.0
    assert backoff.delay(10**6) == 5.0
    assert Backoff(base=1e300, cap=7.0).ceiling(1023) == 7.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (0.1, 0.0), (-1.0, 1.0)])
def test_base_and_cap_must_be_positive(base, cap):
    with pytest.raises(ValueError, match="positive"):
        Backoff(base=base, cap=cap)
