"""RateLimitedLog: one line per key per interval, with what it held back."""

from __future__ import annotations

import logging

import pytest

from proxy.throttled_log import RateLimitedLog


@pytest.fixture
def logger(caplog):
    caplog.set_level(logging.WARNING, logger="tests.throttled")
    return logging.getLogger("tests.throttled")


def _lines(caplog):
    return [
        (r.getMessage(), r.__dict__.get("suppressed"), r.__dict__.get("host"))
        for r in caplog.records
    ]


def test_one_line_per_interval_then_the_count_of_what_was_held_back(logger, caplog):
    now = [100.0]
    warn = RateLimitedLog(logger, interval=10.0, clock=lambda: now[0])
    warn.warning("redis", "redis down", host="a")
    for _ in range(3):
        now[0] += 3.0
        warn.warning("redis", "redis down", host="b")
    assert _lines(caplog) == [("redis down", 0, "a")]
    now[0] += 1.0  # 10 s after the first line
    warn.warning("redis", "redis down", host="c")
    assert _lines(caplog) == [("redis down", 0, "a"), ("redis down", 3, "c")]


def test_keys_are_limited_separately(logger, caplog):
    warn = RateLimitedLog(logger, clock=lambda: 5.0)
    warn.warning("transport", "unreachable")
    warn.warning("status", "failed")
    warn.warning("transport", "unreachable")
    assert [m for m, _, _ in _lines(caplog)] == ["unreachable", "failed"]


def test_the_first_line_is_never_held_back_whatever_the_clock(logger, caplog):
    RateLimitedLog(logger, clock=lambda: 0.0).warning("k", "first")
    assert _lines(caplog) == [("first", 0, None)]
