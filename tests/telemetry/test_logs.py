"""The request log: one JSON line per request, no secrets."""

from __future__ import annotations

import io
import logging

import orjson

from proxy.accounting.records import UsageRecord
from proxy.telemetry.logs import JSONFormatter, RateLimitedLog, RequestLogSink


async def test_request_lines_are_batched_json():
    stream = io.BytesIO()
    sink = RequestLogSink(stream)
    sink.emit(
        UsageRecord("evt_1", "req_1", 1.5, "POST", "/v1/chat/completions", status=200, model="m")
    )
    sink.emit(UsageRecord("evt_2", "req_2", 1.6, "GET", "/v1/models", status=401))
    assert stream.getvalue() == b""  # nothing is written on the request path
    sink.flush()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["msg"], d["request_id"], d["status"]) for d in lines] == [
        ("request", "req_1", 200),
        ("request", "req_2", 401),
    ]
    assert lines[0]["level"] == "info" and lines[0]["model"] == "m"


async def test_the_gateway_writes_one_line_per_request_without_secrets(make_proxy, upstream, capfd):
    route = {
        "model_name": "m",
        "provider": "openai",
        "api_base": upstream.url,
        "api_key": "sk-route-secret-999",
    }
    client = await make_proxy({"models": [route]}, PROXY_REQUEST_LOG="1")
    await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "private"}]},
        headers={"Authorization": "Bearer sk-client-secret"},
    )
    await client.close()  # cleanup flushes the log
    err = capfd.readouterr().err
    lines = [orjson.loads(line) for line in err.splitlines() if '"proxy.request"' in line]
    assert len(lines) == 1 and lines[0]["status"] == 200
    assert "sk-route-secret" not in err and "sk-client-secret" not in err and "private" not in err


def test_json_formatter_keeps_extra_fields():
    record = logging.LogRecord("proxy.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.tenant = "t1"
    doc = orjson.loads(JSONFormatter().format(record))
    assert (doc["msg"], doc["level"], doc["tenant"]) == ("hello you", "warning", "t1")


def _warnings(caplog, clock):
    caplog.set_level(logging.WARNING, logger="proxy.rate")
    return RateLimitedLog(logging.getLogger("proxy.rate"), 10.0, clock=lambda: clock[0])


def _lines(caplog) -> list[tuple[str, str, int]]:
    return [(r.getMessage(), r.host, r.suppressed) for r in caplog.records]  # type: ignore[attr-defined]


def test_a_burst_of_warnings_is_one_line_and_the_next_carries_the_count(caplog):
    clock = [100.0]
    warnings = _warnings(caplog, clock)
    for _ in range(50):
        warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
        clock[0] += 0.1  # 50 failures in 5 s
    assert _lines(caplog) == [("upstream connect failed", "a.example", 0)]
    clock[0] = 110.0  # the interval has passed since the first line
    warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
    assert _lines(caplog)[1:] == [("upstream connect failed", "a.example", 49)]


def test_each_kind_and_host_has_its_own_line(caplog):
    clock = [0.0]
    warnings = _warnings(caplog, clock)
    for _ in range(5):
        warnings.warning("connect:a.example", "upstream connect failed", host="a.example")
        warnings.warning("connect:b.example", "upstream connect failed", host="b.example")
        warnings.warning("refused:a.example", "upstream destination refused", host="a.example")
    assert _lines(caplog) == [
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
