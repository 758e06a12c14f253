"""proxy.lifecycle: the draining flag and the shutdown time left."""

from __future__ import annotations

import time

from proxy.lifecycle import Lifecycle


def test_a_running_worker_is_not_draining_and_gets_the_default():
    life = Lifecycle()
    assert life.draining is False
    assert life.remaining(default_s=7.5) == 7.5


def test_draining_counts_down_from_the_grace_period_and_ignores_the_default():
    life = Lifecycle()
    before = time.monotonic()
    life.start_draining(30.0)
    left = life.remaining(default_s=1.0)
    after = time.monotonic()
    assert life.draining is True
    assert before + 30.0 - after <= left <= 30.0
    assert life.remaining(default_s=1.0) <= left  # never goes back up


def test_time_left_never_goes_negative():
    life = Lifecycle()
    life.start_draining(0.0)
    assert life.remaining(default_s=5.0) == 0.0
    life.start_draining(-3.0)  # a stop time already in the past
    assert life.remaining(default_s=5.0) == 0.0
