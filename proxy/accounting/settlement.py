"""The settle-and-record stage: the end of every request, whatever happened.

Runs exactly once per request that reached the /v1 handler: served, refused,
failed or abandoned. It prices the usage record (the answering route's prices),
counts the request in the metrics and hands the record to the usage sink. It is the
seam where budget reservations will be settled to the actual cost and the usage
ledger written. Nothing here blocks or awaits: sinks do their I/O in their own tasks.
"""

from __future__ import annotations

from time import perf_counter
from typing import Protocol

from proxy.accounting.cost import PriceBook
from proxy.route import Route
from proxy.usage_record import UsageRecord, UsageSink


class RequestMetrics(Protocol):
    def request_done(
        self, model: str, status: int, overhead_s: float, upstream_s: float | None
    ) -> None:
        """Count a finished request under the metrics label `model`."""


class Settlement:
    def __init__(self, *, prices: PriceBook, metrics: RequestMetrics, sink: UsageSink) -> None:
        self._prices = prices
        self._metrics = metrics
        self._sink = sink

    def settle(
        self,
        record: UsageRecord,
        route: Route | None,
        label: str,
        started: float,
        upstream_s: float | None,
    ) -> None:
        """`started` is the request's arrival (perf_counter); `route` None when the request
        never got one; `upstream_s` None when no upstream answered."""
        elapsed = perf_counter() - started
        record.duration_ms = round(elapsed * 1000, 3)
        if upstream_s is not None:
            record.upstream_ms = round(upstream_s * 1000, 3)
        if route is not None and (
            record.input_tokens is not None or record.output_tokens is not None
        ):
            prices = self._prices
            record.cost_usd = prices.cost(
                prices.price(route, record.model),
                record.input_tokens,
                record.output_tokens,
                record.cached_tokens,
            )
        self._metrics.request_done(
            label, record.status, max(elapsed - (upstream_s or 0.0), 0.0), upstream_s
        )
        self._sink.emit(record)
