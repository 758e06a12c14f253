"""proxy.usage_record (was accounting/records.py): the record's shape, FanOutSink's isolation."""

from __future__ import annotations

import dataclasses
import logging

import orjson

from proxy.usage_record import FanOutSink, UsageRecord
from tests.helpers import RecordingSink


def _record(**fields) -> UsageRecord:
    base = dict(event_id="evt_1", request_id="req_1", timestamp=1.5, method="POST")
    return UsageRecord(**{**base, "endpoint": "/v1/chat/completions", **fields})


class BrokenSink:
    def __init__(self) -> None:
        self.calls = 0

    def emit(self, record: UsageRecord) -> None:
        self.calls += 1
        raise ValueError("sink bug")


def test_a_fresh_record_says_nothing_it_does_not_know():
    record = _record()
    assert (record.tenant, record.model, record.provider, record.error) == (None,) * 4
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (None,) * 3
    assert (record.status, record.stream, record.usage_estimated) == (0, False, False)


def test_orjson_serialises_every_field_of_a_record():
    record = _record(tenant="t1", model="m", status=200, input_tokens=3, cost_usd=0.25)
    assert orjson.loads(orjson.dumps(record)) == dataclasses.asdict(record)


def test_fan_out_hands_the_same_record_to_every_sink_in_order():
    order: list[str] = []

    class Named(RecordingSink):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def emit(self, record: UsageRecord) -> None:
            order.append(self.name)
            super().emit(record)

    first, second = Named("first"), Named("second")
    record = _record()
    FanOutSink([first, second]).emit(record)
    assert order == ["first", "second"]
    assert first.records == [record] and second.records[0] is record


def test_a_failing_sink_is_logged_and_the_others_still_get_the_record(caplog):
    before, broken, after = RecordingSink(), BrokenSink(), RecordingSink()
    fan = FanOutSink([before, broken, after])
    fan.emit(_record(request_id="r1"))  # must not raise into the request
    fan.emit(_record(request_id="r2"))
    assert [r.request_id for r in after.records] == ["r1", "r2"]
    assert len(before.records) == 2 and broken.calls == 2
    failures = [r for r in caplog.records if r.getMessage() == "usage sink failed"]
    assert len(failures) == 2 and all(r.levelno == logging.ERROR for r in failures)
    assert failures[0].exc_info is not None and "sink bug" in str(failures[0].exc_info[1])


def test_the_sink_list_is_fixed_when_the_fan_out_is_built():
    sinks: list[RecordingSink] = [RecordingSink()]
    fan = FanOutSink(sinks)
    late = RecordingSink()
    sinks.append(late)
    fan.emit(_record())
    assert late.records == [] and len(sinks[0].records) == 1


def test_no_sinks_is_a_valid_fan_out():
    FanOutSink([]).emit(_record())
