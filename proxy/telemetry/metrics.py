"""Prometheus metrics, cheap enough to leave on.

A request touches only plain Python counters here (a dict increment and two
bisects). `flush()` moves the deltas into prometheus-client's values every
`PROXY_METRICS_FLUSH_INTERVAL` seconds and before every scrape. Under gunicorn
(`PROMETHEUS_MULTIPROC_DIR` set) those values live in prometheus-client's
multiprocess files, so `/metrics` from any worker sums every worker; a worker's
share may lag by one flush interval.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

CountSource = Callable[[], dict[str, int]]
OVERHEAD_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
UPSTREAM_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


class _LocalHistogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds) + (float("inf"),)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def drain_into(self, histogram: Histogram) -> None:
        # prometheus-client stores per-bucket (non-cumulative) counts in `_buckets`
        # and accumulates at collection; adding our deltas there is `observe` in bulk.
        if not self.total and not any(self.counts):
            return
        buckets = histogram._buckets
        for i, n in enumerate(self.counts):
            if n:
                buckets[i].inc(n)
                self.counts[i] = 0
        histogram._sum.inc(self.total)
        self.total = 0.0


class Metrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self._multiprocess_dir = multiprocess_dir
        # In multiprocess mode values live in files and are collected from there;
        # otherwise this app's own registry (one per app, so tests never collide).
        self._registry = None if multiprocess_dir else CollectorRegistry()
        self._register_families(self._registry)
        self.in_flight = 0
        self._unpriced: defaultdict[str, int] = defaultdict(int)
        self._requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._upstream_errors: defaultdict[str, int] = defaultdict(int)
        self._config_lookups: defaultdict[str, int] = defaultdict(int)
        self._counter_sources: list[tuple[Counter, CountSource, dict[str, int]]] = []
        self._gauge_sources: list[tuple[Gauge, Callable[[], float]]] = []
        self._total_sources: list[tuple[Counter, Callable[[], int], list[int]]] = []
        self._overhead = _LocalHistogram(OVERHEAD_BUCKETS)
        self._upstream = _LocalHistogram(UPSTREAM_BUCKETS)

    def _register_families(self, reg: CollectorRegistry | None) -> None:
        """The exported families (values flushed into them from the local tallies)."""
        self._p_requests = Counter(
            "tenant_proxy_requests",
            "Finished requests by model and status.",
            ["model", "status"],
            registry=reg,
        )
        self._p_in_flight = Gauge(
            "tenant_proxy_in_flight_requests",
            "Requests being served now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self._p_overhead = Histogram(
            "tenant_proxy_overhead_seconds",
            "Time a request spent in the proxy itself.",
            buckets=OVERHEAD_BUCKETS,
            registry=reg,
        )
        self._p_upstream = Histogram(
            "tenant_proxy_upstream_seconds",
            "Time spent waiting on the upstream.",
            buckets=UPSTREAM_BUCKETS,
            registry=reg,
        )
        self._p_config_lookups = Counter(
            "tenant_proxy_config_lookups",
            "Tenant config lookups by result (l1_hit, l2_hit, miss, stale, error).",
            ["result"],
            registry=reg,
        )
        self._p_upstream_errors = Counter(
            "tenant_proxy_upstream_errors",
            "Upstream failures by kind.",
            ["kind"],
            registry=reg,
        )
        self._p_unpriced = Counter(
            "tenant_proxy_unpriced_requests",
            "Requests with known tokens whose model has no price (cost null).",
            ["model"],
            registry=reg,
        )

    def request_done(
        self, model: str, status: int, overhead_s: float, upstream_s: float | None
    ) -> None:
        self._requests[model, status] += 1
        self._overhead.observe(overhead_s)
        if upstream_s is not None:
            self._upstream.observe(upstream_s)

    def request_unpriced(self, model: str) -> None:
        self._unpriced[model] += 1

    def upstream_error(self, kind: str) -> None:
        self._upstream_errors[kind] += 1

    def watch_counters(
        self, name: str, documentation: str, label: str, source: Callable[[], dict[str, int]]
    ) -> None:
        """Export counts another component keeps (read at each flush, as deltas)."""
        counter = Counter(name, documentation, [label], registry=self._registry)
        self._counter_sources.append((counter, source, {}))

    def watch_total(self, name: str, documentation: str, source: Callable[[], int]) -> None:
        """Export a running total another component keeps (read at each flush, as deltas)."""
        counter = Counter(name, documentation, registry=self._registry)
        self._total_sources.append((counter, source, [0]))

    def watch_gauge(self, name: str, documentation: str, source: Callable[[], float]) -> None:
        gauge = Gauge(name, documentation, registry=self._registry, multiprocess_mode="livesum")
        self._gauge_sources.append((gauge, source))

    def config_lookup(self, result: str) -> None:
        self._config_lookups[result] += 1

    def watch_lookups(self, result: str, source: Callable[[], int]) -> None:
        """Config lookups with `result` that another component counts (a running total,
        read at each flush, as deltas): the resolver's L1 hits, the hot path's."""
        self._total_sources.append((self._p_config_lookups.labels(result), source, [0]))

    def flush(self) -> None:
        if self._config_lookups:
            lookups, self._config_lookups = self._config_lookups, defaultdict(int)
            for result, n in lookups.items():
                self._p_config_lookups.labels(result).inc(n)
        if self._requests:
            requests, self._requests = self._requests, defaultdict(int)
            for (model, status), n in requests.items():
                self._p_requests.labels(model, str(status)).inc(n)
        if self._unpriced:
            unpriced, self._unpriced = self._unpriced, defaultdict(int)
            for model, n in unpriced.items():
                self._p_unpriced.labels(model).inc(n)
        if self._upstream_errors:
            errors, self._upstream_errors = self._upstream_errors, defaultdict(int)
            for kind, n in errors.items():
                self._p_upstream_errors.labels(kind).inc(n)
        self._p_in_flight.set(self.in_flight)
        for counter, source, last in self._counter_sources:
            for key, value in source().items():
                if value != last.get(key, 0):
                    counter.labels(key).inc(value - last.get(key, 0))
                    last[key] = value
        for total, read_total, seen in self._total_sources:
            value = read_total()
            if value != seen[0]:
                total.inc(value - seen[0])
                seen[0] = value
        for gauge, read in self._gauge_sources:
            gauge.set(read())
        self._overhead.drain_into(self._p_overhead)
        self._upstream.drain_into(self._p_upstream)

    def render(self) -> tuple[bytes, str]:
        """The exposition text (every worker's, in multiprocess mode) and its content type."""
        self.flush()
        if self._registry is not None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until cancelled, and once more at the end."""
        try:
            while True:
                await asyncio.sleep(interval)
                self.flush()
        finally:
            self.flush()
