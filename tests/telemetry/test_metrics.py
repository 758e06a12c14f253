"""proxy.telemetry.metrics: counts as /metrics shows them, per app and summed across workers."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client import CONTENT_TYPE_LATEST

from proxy.telemetry.metrics import Metrics


def text(metrics: Metrics) -> str:
    body, content_type = metrics.render()
    assert content_type == CONTENT_TYPE_LATEST
    return body.decode()


def test_each_scrape_shows_totals_not_repeated_deltas():
    metrics = Metrics()
    metrics.request_done("m", 200, 0.001, 0.2)
    metrics.request_done("m", 200, 0.001, None)  # never reached the upstream
    metrics.request_done("m", 429, 0.001, None)
    first = text(metrics)
    assert 'tenant_proxy_requests_total{model="m",status="200"} 2.0' in first
    assert 'tenant_proxy_requests_total{model="m",status="429"} 1.0' in first
    assert "tenant_proxy_upstream_seconds_count 1.0" in first
    assert text(metrics) == first  # a second scrape adds nothing
    metrics.request_done("m", 200, 0.001, None)
    assert 'tenant_proxy_requests_total{model="m",status="200"} 3.0' in text(metrics)


def test_histogram_buckets_are_inclusive_and_sums_add_up():
    metrics = Metrics()
    for seconds in (0.001, 0.001, 0.0011, 5.0):  # 0.001 is a bound; 5.0 is past the last one
        metrics.request_done("m", 200, seconds, None)
    shown = text(metrics)
    assert 'tenant_proxy_overhead_seconds_bucket{le="0.0005"} 0.0' in shown
    assert 'tenant_proxy_overhead_seconds_bucket{le="0.001"} 2.0' in shown
    assert 'tenant_proxy_overhead_seconds_bucket{le="0.0025"} 3.0' in shown
    assert 'tenant_proxy_overhead_seconds_bucket{le="1.0"} 3.0' in shown
    assert 'tenant_proxy_overhead_seconds_bucket{le="+Inf"} 4.0' in shown
    assert "tenant_proxy_overhead_seconds_sum 5.0031" in shown


def test_lookups_counted_elsewhere_add_to_the_lookups_counter_as_deltas():
    metrics = Metrics()
    hits = [2]
    metrics.watch_lookups("l1_hit", lambda: hits[0])
    metrics.config_lookup("l1_hit")  # counted here too: the two add up
    assert 'tenant_proxy_config_lookups_total{result="l1_hit"} 3.0' in text(metrics)
    hits[0] = 5
    assert 'tenant_proxy_config_lookups_total{result="l1_hit"} 6.0' in text(metrics)
    assert 'tenant_proxy_config_lookups_total{result="l1_hit"} 6.0' in text(metrics)


def test_watched_counters_export_deltas_and_gauges_read_at_each_scrape():
    metrics = Metrics()
    counts, queued = {"sent": 3}, [7.0]
    metrics.watch_counters("tp_things", "Things.", "outcome", lambda: dict(counts))
    metrics.watch_gauge("tp_queued", "Queued.", lambda: queued[0])
    metrics.config_lookup("l1_hit")
    metrics.upstream_error("timeout")
    metrics.in_flight = 4
    shown = text(metrics)
    assert 'tp_things_total{outcome="sent"} 3.0' in shown and "tp_queued 7.0" in shown
    assert 'tenant_proxy_config_lookups_total{result="l1_hit"} 1.0' in shown
    assert 'tenant_proxy_upstream_errors_total{kind="timeout"} 1.0' in shown
    assert "tenant_proxy_in_flight_requests 4.0" in shown
    counts.update(sent=5, dropped=1)
    queued[0], metrics.in_flight = 0.0, 0
    shown = text(metrics)
    assert 'tp_things_total{outcome="sent"} 5.0' in shown  # the source's total, not 3 + 5
    assert 'tp_things_total{outcome="dropped"} 1.0' in shown
    assert "tp_queued 0.0" in shown and "tenant_proxy_in_flight_requests 0.0" in shown


def test_two_apps_in_one_process_keep_separate_counts():
    a, b = Metrics(), Metrics()
    a.request_done("m", 200, 0.001, None)
    assert 'tenant_proxy_requests_total{model="m",status="200"} 1.0' in text(a)
    assert 'model="m"' not in text(b)


WORKER = """
import asyncio, sys
from proxy.telemetry.metrics import Metrics

metrics = Metrics(multiprocess_dir=sys.argv[1])
for _ in range(int(sys.argv[2])):
    metrics.request_done("m", 200, 0.002, 0.5)
metrics.upstream_error("connect")
if sys.argv[3] == "run":  # the flush loop, cancelled before its first tick: it flushes at the end
    async def main():
        task = asyncio.get_running_loop().create_task(metrics.run(3600.0))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())
elif sys.argv[3] == "flush":
    metrics.flush()
"""


def _worker(directory: str, requests: int, how: str) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}  # read when prometheus loads
    subprocess.run(
        [sys.executable, "-c", WORKER, directory, str(requests), how],
        env=env,
        check=True,
        timeout=60,
    )


def test_any_worker_shows_the_sum_of_every_workers_flushed_counts(tmp_path):
    directory = str(tmp_path)
    _worker(directory, 2, "flush")
    _worker(directory, 3, "run")
    _worker(directory, 100, "never")  # exited between flushes: its share never arrived
    shown = text(Metrics(multiprocess_dir=directory))
    assert 'tenant_proxy_requests_total{model="m",status="200"} 5.0' in shown
    assert 'tenant_proxy_upstream_errors_total{kind="connect"} 2.0' in shown
    assert 'tenant_proxy_upstream_seconds_bucket{le="0.5"} 5.0' in shown
    assert 'tenant_proxy_overhead_seconds_bucket{le="+Inf"} 5.0' in shown
    assert "tenant_proxy_overhead_seconds_sum 0.01" in shown
