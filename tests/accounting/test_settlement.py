"""Settlement: every request ends in one priced, counted, emitted usage record."""

from __future__ import annotations

from time import perf_counter

from proxy.accounting.cost import PriceBook
from proxy.accounting.settlement import Settlement
from proxy.route import Route
from proxy.telemetry.metrics import Metrics
from proxy.usage_record import UsageRecord
from tests.helpers import RecordingSink

PRICED = Route(
    provider="openai",
    api_base="http://x",
    model_name="m",
    input_cost_per_mtok=1.0,
    output_cost_per_mtok=2.0,
)


def _record(**fields: object) -> UsageRecord:
    record = UsageRecord("ev", "req", 0.0, "POST", "/v1/chat/completions", model="m")
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def _settlement() -> tuple[Settlement, Metrics, RecordingSink]:
    metrics, sink = Metrics(), RecordingSink()
    return Settlement(prices=PriceBook(), metrics=metrics, sink=sink), metrics, sink


def test_a_served_request_is_priced_timed_counted_and_emitted_once():
    settlement, metrics, sink = _settlement()
    record = _record(status=200, input_tokens=1_000_000, output_tokens=500_000)
    settlement.settle(record, PRICED, "m", perf_counter() - 0.5, 0.2)
    assert sink.records == [record]
    assert record.cost_usd == 2.0
    assert record.duration_ms >= 500 and record.upstream_ms == 200.0
    metrics.flush()
    text = metrics.render()[0]
    assert b'tenant_proxy_requests_total{model="m",status="200"} 1.0' in text
    assert b"tenant_proxy_upstream_seconds_count 1.0" in text


def test_a_request_refused_before_routing_is_recorded_unpriced():
    settlement, metrics, sink = _settlement()
    record = _record(status=404, error="model_not_found", input_tokens=None)
    settlement.settle(record, None, "(none)", perf_counter(), None)
    assert sink.records == [record]
    assert (record.cost_usd, record.upstream_ms) == (None, None)
    metrics.flush()
    text = metrics.render()[0]
    assert b'tenant_proxy_requests_total{model="(none)",status="404"} 1.0' in text
    assert b"tenant_proxy_upstream_seconds_count 0.0" in text


def test_tokens_of_a_model_without_a_price_are_kept_and_counted_as_unpriced():
    settlement, metrics, sink = _settlement()
    unpriced = Route(provider="openai", api_base="http://x", model_name="my-finetune")
    record = _record(status=200, input_tokens=10, output_tokens=5)
    settlement.settle(record, unpriced, "my-finetune", perf_counter(), 0.1)
    assert (record.cost_usd, record.input_tokens, record.output_tokens) == (None, 10, 5)
    metrics.flush()
    text = metrics.render()[0]
    assert b'tenant_proxy_unpriced_requests_total{model="my-finetune"} 1.0' in text
