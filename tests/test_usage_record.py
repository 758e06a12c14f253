"""The usage record and FanOutSink: every sink gets every record, whatever the others do."""

from __future__ import annotations

import logging

import orjson

from proxy.usage_record import FanOutSink, UsageRecord, UsageSink, fan_out
from tests.helpers import RecordingSink


class BrokenSink:
    def emit(self, record: UsageRecord) -> None:
        raise RuntimeError("sink bug")


def _record(request_id: str = "req_1") -> UsageRecord:
    return UsageRecord(
        event_id="evt_1", request_id=request_id, timestamp=1.5, method="POST", endpoint="/v1/x"
    )


def test_each_record_reaches_every_sink_even_past_a_failing_one(caplog):
    first, last = RecordingSink(), RecordingSink()
    fan = FanOutSink([first, BrokenSink(), last])
    with caplog.at_level(logging.ERROR, logger="proxy.accounting"):
        fan.emit(_record("a"))
        fan.emit(_record("b"))
    assert [r.request_id for r in first.records] == ["a", "b"]
    assert [r.request_id for r in last.records] == ["a", "b"]
    assert [r.getMessage() for r in caplog.records] == ["usage sink failed"] * 2


class OrderSink:
    def __init__(self, name: str, seen: list[str]) -> None:
        self._name, self._seen = name, seen

    def emit(self, record: UsageRecord) -> None:
        self._seen.append(self._name)


def test_fan_out_hands_records_on_in_order_through_one_flat_fan_out():
    seen: list[str] = []
    log, hook, ledger = (OrderSink(n, seen) for n in ("log", "hook", "ledger"))
    sink: UsageSink = fan_out(ledger, FanOutSink([log, hook]))
    assert isinstance(sink, FanOutSink) and sink.sinks == (ledger, log, hook)
    sink.emit(_record())
    assert seen == ["ledger", "log", "hook"]
    assert fan_out(log) is log
    assert fan_out(FanOutSink([log])) is log


def test_a_record_serialises_with_every_field():
    doc = orjson.loads(orjson.dumps(_record()))
    assert doc["event_id"] == "evt_1" and doc["status"] == 0 and doc["cost_usd"] is None
    assert set(doc) == set(UsageRecord.__dataclass_fields__)
