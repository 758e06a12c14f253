"""The usage record every finished request produces, and where records go.

A record is filled in as the request goes (model, provider, tokens, status) and
handed to the app's `UsageSink` exactly once, when the request ends: success,
proxy error, upstream error or client disconnect. `emit` never blocks or awaits;
sinks do their I/O in their own background tasks.

A leaf module: the request path fills records, telemetry/ and (later) the ledger in
accounting/ consume them, and none of them imports another for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("proxy.accounting")


# Not slotted: orjson serialises a plain dataclass through its __dict__, 3x faster.
@dataclass
class UsageRecord:
    event_id: str  # server-generated, unique: the de-duplication key downstream
    request_id: str
    timestamp: float  # Unix epoch seconds when the request arrived
    method: str
    endpoint: str  # the /v1/... path as the upstream sees it
    tenant: str | None = None  # None in static mode
    model: str | None = None  # as the client named it
    upstream_model: str | None = None
    provider: str | None = None
    status: int = 0  # 499: the client went away
    error: str | None = None  # the error code, when the request failed
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    duration_ms: float = 0.0
    upstream_ms: float | None = None
    stream: bool = False
    usage_estimated: bool = False
    attempts: int = 0  # upstream tries, all routes together (SPEC 12)
    route: str | None = None  # the fallback route that answered, when one did
    fallback_from: str | None = None  # the route the client's model chose, when a fallback answered
    authenticated: bool = False  # the client proved it may act as `tenant` (the ledger's test)


class UsageSink(Protocol):
    def emit(self, record: UsageRecord) -> None:
        """Take the record; must not block, raise or keep a reference it mutates."""


class FanOutSink:
    """Hands each record to several sinks, in order; a failing sink does not stop the
    others."""

    def __init__(self, sinks: Sequence[UsageSink]) -> None:
        self._sinks = tuple(sinks)

    @property
    def sinks(self) -> tuple[UsageSink, ...]:
        return self._sinks

    def emit(self, record: UsageRecord) -> None:
        for sink in self._sinks:
            try:
                sink.emit(record)
            except Exception:  # a sink bug must not fail the request it reports
                log.exception("usage sink failed")


def fan_out(*sinks: UsageSink) -> UsageSink:
    """One sink for `sinks`, in their order: a fan-out among them contributes its own
    sinks (one loop per record, not a call per level), and a single sink is itself."""
    flat: list[UsageSink] = []
    for sink in sinks:
        flat.extend(sink.sinks if isinstance(sink, FanOutSink) else (sink,))
    return flat[0] if len(flat) == 1 else FanOutSink(flat)
