"""The request log: one JSON line per request, no secrets."""

from __future__ import annotations

import io
import logging

import orjson

from proxy.telemetry.logs import JSONFormatter, RequestLogSink
from proxy.usage_record import UsageRecord


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
