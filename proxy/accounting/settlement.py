"""The settle-and-record stage: the end of every request, whatever happened.

Runs exactly once per request that reached the /v1 handler: served, refused,
failed or abandoned. It prices the usage record (the answering route's prices, in
integer micro-USD rounded up), counts the request in the metrics (and, when its
model has no price, as unpriced), hands a budget/limits reservation back to its
backend with the actual cost and tokens, and hands the record to the usage sink.
Nothing here blocks or awaits: the backend and the sinks do their I/O in their own
tasks.
"""

from __future__ import annotations

from time import perf_counter
from typing import Protocol

from proxy.accounting.cost import PriceBook
from proxy.accounting.quota import QuotaBackend, Reservation
from proxy.route import Route
from proxy.usage_record import UsageRecord, UsageSink


class RequestMetrics(Protocol):
    def request_done(
        self, model: str, status: int, overhead_s: float, upstream_s: float | None
    ) -> None:
        """Count a finished request under the metrics label `model`."""

    def request_unpriced(self, model: str) -> None:
        """Count a request whose tokens are known but whose model has no price."""


class Settlement:
    def __init__(
        self,
        *,
        prices: PriceBook,
        metrics: RequestMetrics,
        sink: UsageSink,
        quota: QuotaBackend | None = None,
    ) -> None:
        self._prices = prices
        self._metrics = metrics
        self._sink = sink
        self._quota = quota

    def settle(
        self,
        record: UsageRecord,
        route: Route | None,
        label: str,
        started: float,
        upstream_s: float | None,
        reservation: Reservation | None = None,
    ) -> None:
        """`started` is the request's arrival (perf_counter); `route` None when the request
        never got one; `upstream_s` None when no upstream answered; `reservation` what
        admission held for a tenant with a budget or limits."""
        elapsed = perf_counter() - started
        record.duration_ms = round(elapsed * 1000, 3)
        if upstream_s is not None:
            record.upstream_ms = round(upstream_s * 1000, 3)
        micro = None
        if route is not None and (
            record.input_tokens is not None or record.output_tokens is not None
        ):
            prices = self._prices
            micro = prices.cost_micro(
                prices.price(route, record.model),
                record.input_tokens,
                record.output_tokens,
                record.cached_tokens,
            )
            if micro is None:
                self._metrics.request_unpriced(label)
            else:
                record.cost_usd = micro / 1_000_000
        if reservation is not None and self._quota is not None:
            tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
            self._quota.settle(reservation, micro or 0, tokens)
        self._metrics.request_done(
            label, record.status, max(elapsed - (upstream_s or 0.0), 0.0), upstream_s
        )
        self._sink.emit(record)
