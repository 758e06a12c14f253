"""Telemetry events (SPEC section 9): what goes to the webhook, built from facts only.

The event-type names are in proxy.event_types, where their producers find them.

Events carry ids, model, provider, tokens, costs, durations and status: never
headers, bodies or keys. `user_id` appears in multi-tenant mode only.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import orjson

from proxy import __version__
from proxy.event_types import REQUEST_PROCESSED
from proxy.usage_record import UsageRecord


def iso_utc(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_event(record: UsageRecord, mode: str) -> bytes:
    ok = record.status < 400 and record.error is None
    doc: dict[str, Any] = {
        "event_type": REQUEST_PROCESSED,
        "event_id": record.event_id,
        "timestamp": iso_utc(record.timestamp),
        "request_id": record.request_id,
        "deployment_mode": mode,
        "model": record.model,
        "upstream_model": record.upstream_model,
        "provider": record.provider,
        "endpoint": record.endpoint,
        "status": "success" if ok else "error",
        "status_code": record.status,
        "error_code": record.error,
        "duration_ms": record.duration_ms,
        "upstream_ms": record.upstream_ms,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cached_tokens": record.cached_tokens,
        "cost_usd": record.cost_usd,
        "stream": record.stream,
        "usage_estimated": record.usage_estimated,
        "attempts": record.attempts,
    }
    if record.route is not None:
        doc["route"] = record.route
        doc["fallback_from"] = record.fallback_from
    if record.tenant is not None:
        doc["user_id"] = record.tenant
    return orjson.dumps(doc)


def plain_event(
    event_type: str, event_id: str, timestamp: float, mode: str, fields: dict[str, Any]
) -> bytes:
    doc = {
        "event_type": event_type,
        "event_id": event_id,
        "timestamp": iso_utc(timestamp),
        "deployment_mode": mode,
        **fields,
    }
    return orjson.dumps(doc)


def server_fields() -> dict[str, Any]:
    return {"pid": os.getpid(), "version": __version__}
