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


def _warnings(caplog, clock):
    caplog.set_level(logging.WARNING, logger="proxy.rate")
    return RateLimitedLog(logging.getLogger("proxy.rate"), 10.0, clock=lambda: clock[0])


def _host_lines(caplog) -> list[tuple[str, str, int]]:
    return [(r.getMessage(), r.host, r.suppressed) for r in caplog.records]  # type: ignore[attr-defined]


def test_a_burst_of_warnings_is_one_line_and_the_next_carries_the_count(caplog):
    clock = [100.0]
    warnings = _warnings(caplog, clock)
    for _ in range(50):
        warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
        clock[0] += 0.1  # 50 failures in 5 s
    assert _host_lines(caplog) == [("upstream connect failed", "a.example", 0)]
    clock[0] = 110.0  # the interval has passed since the first line
    warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
    assert _host_lines(caplog)[1:] == [("upstream connect failed", "a.example", 49)]


def test_each_kind_and_host_has_its_own_line(caplog):
    clock = [0.0]
    warnings = _warnings(caplog, clock)
    for _ in range(5):
        warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
        warnings.warning("connect:b.example", "upstream connect failed", host="b.example")
        warnings.warning("refused:a.example", "upstream destination refused", host="a.example")
    assert _host_lines(caplog) == [
        ("upstream connect failed", "a.example", 0),
        ("upstream connect failed", "b.example", 0),
        ("upstream destination refused", "a.example", 0),
    ]


def test_quiet_keys_are_forgotten_when_too_many_are_remembered(caplog):
    clock = [0.0]
    caplog.set_level(logging.WARNING, logger="proxy.rate")
    warnings = RateLimitedLog(logging.getLogger("proxy.rate"), clock=lambda: clock[0], max_keys=2)
    warnings.warning("connect:a", "m", host="a")
    warnings.warning("connect:b", "m", host="b")
    clock[0] = 20.0
    warnings.warning("connect:c", "m", host="c")  # a and b are forgotten, not kept forever
    assert len(warnings._last) == 1
    assert [r.host for r in caplog.records] == ["a", "b", "c"]  # type: ignore[attr-defined]
