"""proxy.telemetry.events: webhook event bodies (SPEC 9) built from a usage record's facts."""

from __future__ import annotations

import os

import orjson
import pytest

from proxy import __version__
from proxy.event_types import CONFIG_CACHE_MISS
from proxy.telemetry import events
from proxy.usage_record import UsageRecord

REQUEST_FIELDS = {
    "event_type", "event_id", "timestamp", "request_id", "deployment_mode", "model",
    "upstream_model", "provider", "endpoint", "status", "status_code", "error_code",
    "duration_ms", "upstream_ms", "input_tokens", "output_tokens", "cached_tokens",
    "cost_usd", "stream", "usage_estimated", "attempts",
}  # fmt: skip


def _record(**fields) -> UsageRecord:
    base = dict(event_id="evt_9", request_id="req_9", timestamp=1700000000.5, method="POST")
    return UsageRecord(**{**base, "endpoint": "/v1/chat/completions", "status": 200, **fields})


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1700000000.5, "2023-11-14T22:13:20.500Z"),
        (1.2345, "1970-01-01T00:00:01.234Z"),  # milliseconds, always three digits
    ],
)
def test_timestamps_are_iso_8601_utc_with_milliseconds(timestamp, text):
    assert events.iso_utc(timestamp) == text


def test_a_request_event_carries_the_record_and_nothing_else():
    record = _record(model="gpt", upstream_model="gpt-2024", provider="openai", input_tokens=5)
    doc = orjson.loads(events.request_event(record, "static"))
    assert set(doc) == REQUEST_FIELDS  # no headers, bodies or keys; no user_id in static mode
    assert doc["event_type"] == "request_processed"
    assert (doc["event_id"], doc["request_id"], doc["timestamp"]) == (
        "evt_9",
        "req_9",
        "2023-11-14T22:13:20.500Z",
    )
    assert (doc["model"], doc["upstream_model"], doc["input_tokens"]) == ("gpt", "gpt-2024", 5)
    assert (doc["status"], doc["status_code"], doc["deployment_mode"]) == (
        "success",
        200,
        "static",
    )


def test_a_fallback_answer_names_its_route_and_the_one_it_stood_in_for():
    record = _record(attempts=3, route="gpt-4o-mini", fallback_from="gpt-4o")
    doc = orjson.loads(events.request_event(record, "static"))
    assert set(doc) == REQUEST_FIELDS | {"route", "fallback_from"}
    assert (doc["attempts"], doc["route"], doc["fallback_from"]) == (3, "gpt-4o-mini", "gpt-4o")


def test_a_tenant_record_adds_the_user_id():
    doc = orjson.loads(events.request_event(_record(tenant="alice"), "multi_tenant"))
    assert doc["user_id"] == "alice" and doc["deployment_mode"] == "multi_tenant"


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (200, None, "success"),
        (399, None, "success"),
        (400, None, "error"),
        (499, None, "error"),  # the client went away
        (502, "upstream_unreachable", "error"),
        (200, "stream_broken", "error"),  # headers went out fine, the stream did not finish
    ],
)
def test_status_is_success_only_below_400_without_an_error_code(status, error, outcome):
    doc = orjson.loads(events.request_event(_record(status=status, error=error), "static"))
    assert (doc["status"], doc["status_code"], doc["error_code"]) == (outcome, status, error)


def test_a_plain_event_has_the_common_fields_and_its_own():
    body = events.plain_event(CONFIG_CACHE_MISS, "evt_2", 0.0, "multi_tenant", {"user_id": "bob"})
    assert orjson.loads(body) == {
        "event_type": "config_cache_miss",
        "event_id": "evt_2",
        "timestamp": "1970-01-01T00:00:00.000Z",
        "deployment_mode": "multi_tenant",
        "user_id": "bob",
    }


def test_server_fields_name_this_process_and_version():
    assert events.server_fields() == {"pid": os.getpid(), "version": __version__}
