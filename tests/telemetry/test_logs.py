"""The request log: one JSON line per request, no secrets."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import threading

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


class _StuckPipe(io.BytesIO):
    """A log stream whose write blocks until released, as a pipe whose reader lags."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.entered.set()
        self.release.wait(10)
        return super().write(data)


async def test_a_log_write_that_blocks_never_stalls_the_event_loop():
    stream = _StuckPipe()
    sink = RequestLogSink(stream, interval=0.01, offload=True)
    task = asyncio.create_task(sink.run())
    sink.emit(UsageRecord("evt_1", "req_1", 1.5, "POST", "/v1/chat/completions", status=200))
    await asyncio.get_running_loop().run_in_executor(None, stream.entered.wait, 5)
    ticks = 0
    for _ in range(100):  # the loop keeps turning while the write is stuck
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 100 and stream.getvalue() == b""
    stream.release.set()
    task.cancel()
    assert sink.dropped == 0
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert orjson.loads(stream.getvalue())["request_id"] == "req_1"


async def test_lines_behind_a_stuck_stream_are_bounded_and_the_rest_counted():
    stream = io.BytesIO()
    sink = RequestLogSink(stream, max_waiting=2)
    for i in range(5):
        sink.emit(UsageRecord(f"evt_{i}", f"req_{i}", 1.5, "POST", "/v1/x", status=200))
    sink.flush()
    assert [orjson.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == [
        "req_0",
        "req_1",
    ]
    assert sink.dropped == 3


def test_only_a_pipe_or_socket_is_written_from_a_thread(tmp_path):
    read_end, write_end = os.pipe()
    with open(write_end, "wb") as pipe, open(tmp_path / "log", "wb") as file:
        assert RequestLogSink(pipe)._offload and not RequestLogSink(file)._offload
    os.close(read_end)
    assert not RequestLogSink(io.BytesIO())._offload
