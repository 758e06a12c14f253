"""The usage record and FanOutSink: every sink gets every record, whatever the others do."""

from __future__ import annotations

import logging

import orjson

from proxy.usage_record import FanOutSink, UsageRecord
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


def test_a_record_serialises_with_every_field():
    doc = orjson.loads(orjson.dumps(_record()))
    assert doc["event_id"] == "evt_1" and doc["status"] == 0 and doc["cost_usd"] is None
    assert set(doc) == set(UsageRecord.__dataclass_fields__)
