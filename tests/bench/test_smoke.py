"""The benchmarks still run end to end (a few seconds each); no speed is asserted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_locust_suite_static_mode_writes_a_report(tmp_path):
    result = _bench(
        "bench.run",
        "--mode",
        "static",
        "--workers",
        "1",
        "--users",
        "4",
        "--duration",
        "3",
        "--warmup",
        "1",
        "--baseline-duration",
        "2",
        "--tenants",
        "20",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for section in (
        "Through the gateway",
        "Direct to the mock upstream",
        "proxy overhead",
        "time to first byte",
        "Gateway workers during the measured phase",
    ):
        assert section in report
    assert "failures: 0" in report
    assert (tmp_path / "gateway.html").exists() and (tmp_path / "gateway_stats.csv").exists()
    assert (tmp_path / "overhead-histogram.png").exists()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_locust_suite_multi_tenant_mode_writes_a_report(tmp_path):
    result = _bench(
        "bench.run",
        "--mode",
        "multi",
        "--workers",
        "1",
        "--users",
        "4",
        "--duration",
        "3",
        "--warmup",
        "1",
        "--no-baseline",
        "--tenants",
        "50",
        "--replicas",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    assert "mode: **multi**, replicas: 2" in report and "failures: 0" in report
    assert "Config cache: hit ratio" in report
    assert "Replica 1 (its share)" in report and "Replica 2 (its share)" in report


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)"
)
def test_relay_harness_writes_a_report(tmp_path):
    result = _bench(
        "bench.relay",
        "--duration",
        "1",
        "--rounds",
        "1",
        "--concurrency",
        "1,4",
        "--upstream",
        "python",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    assert "| json | 1 |" in report and "| stream | 4 |" in report


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)"
)
def test_telemetry_load_reports_delivery_and_the_invariant(tmp_path):
    result = _bench(
        "bench.telemetry_load",
        "--duration",
        "2",
        "--rounds",
        "1",
        "--concurrency",
        "4",
        "--upstream",
        "python",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    assert "request_processed events delivered" in report and "= **100.0000%**" in report
    assert "→ holds" in report
