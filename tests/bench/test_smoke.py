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
        "--store",
        "3",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    assert "| json | 1 |" in report and "| stream | 4 |" in report
    assert "| json | 4 | gateway-store |" in report
    assert "| json | 4 | gateway-store-jwt |" in report
    if shutil.which("redis-server"):  # gateway-money: the figures #14 asks for
        assert "#14 json: budgets+limits added median latency at c=1" in report
        assert "#14 json c=4: Redis per request: **" in report


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


def test_the_compare_table_shows_each_target_ratio_from_the_medians():
    from bench.instructions import Counted
    from bench.relay_report import render_compare
    from bench.wrk import Sample

    def point(rps: float, p50: float = 1.0, p99: float = 2.0) -> list[Sample]:
        return [Sample(rps, p50, p99, 0, 0)]

    results = {}
    for mode in ("json", "stream"):
        results |= {
            (mode, 50, "bare"): point(1000),
            (mode, 50, "gateway"): point(1100),
            (mode, 50, "gateway-mt"): point(1078),
            (mode, 1, "direct"): point(0, p50=0.10),
            (mode, 1, "bare"): point(0, p50=0.40),
            (mode, 1, "gateway"): point(0, p50=0.35, p99=0.70),
        }
    instructions = {
        (m, t): Counted(n) for m in ("json", "stream") for t, n in (("gateway", 550), ("bare", 600))
    }
    table = "\n".join(render_compare(results, instructions, [40.0, 41.0]))
    assert "| static ÷ bare req/s, c=50 | 1.10 | 1.10 | ≥ 1.00 |" in table
    assert "| added p50 at c=1, gateway ÷ bare (ms over direct) | 0.83 (0.250 / 0.300)" in table
    assert "| multi-tenant (JWT) ÷ static req/s, c=50 | 0.98 | 0.98 |" in table
    assert "| gateway p99 ÷ p50 at c=1 | 2.00 | 2.00 |" in table
    assert "0.917 (550 / 600)" in table
    assert "| gateway worker RSS MiB, after warm-up → end | 40.0 → 41.0 (+2.5 %) |" in table


def test_the_store_table_reads_13s_ratio_at_c50_from_both_targets():
    from bench.instructions import Counted
    from bench.relay_report import _store_concurrent

    counts = {
        ("json", "gateway-store"): Counted(650),
        ("json", "gateway-store@50"): Counted(600),
        ("json", "gateway-mt@50"): Counted(570),
        ("stream", "gateway-store@50"): Counted(620),
    }
    table = "\n".join(_store_concurrent(counts))
    assert "| json | 650 | 600 | 570 | 0.950 |" in table
    assert "| stream |  | 620 |  |  |" in table  # no mt count: no ratio
    assert _store_concurrent({("json", "gateway"): Counted(1)}) == []


def test_a_drift_within_rounds_cancels_between_two_identical_targets():
    """The host slowing down steadily through each round must not make the target
    measured first look faster than an identical one measured later."""
    from statistics import median

    from bench.relay import in_round_order

    urls = {"direct": "a", "gateway-mt": "b", "gateway-store": "c"}
    seen: dict[str, list[float]] = {name: [] for name in urls}
    for round_no in range(4):
        for position, (name, _url) in enumerate(in_round_order(urls, round_no)):
            seen[name].append(1000.0 * (1 - 0.02 * position))  # same target, slower host
    assert [name for name, _ in in_round_order(urls, 1)] == [
        "gateway-store",
        "gateway-mt",
        "direct",
    ]
    assert median(seen["gateway-store"]) == median(seen["gateway-mt"]) == median(seen["direct"])


def test_the_issue_figures_set_the_token_against_both_jwt_gateways():
    """#13 shows the token gateway against the Config API's JWT gateway (the issue's
    ratio) and against a JWT on the same built-in store (the token check alone)."""
    import argparse

    from bench.relay_report import _issue_figures
    from bench.wrk import Sample

    def rounds(rps: float) -> list[Sample]:
        return [Sample(rps, 1.0, 2.0, 0, int(rps)) for _ in range(3)]

    results = {
        ("json", 50, "gateway-mt"): rounds(1000.0),
        ("json", 50, "gateway-store"): rounds(930.0),
        ("json", 50, "gateway-store-jwt"): rounds(940.0),
    }
    args = argparse.Namespace(store=10_000, store_create_s=20.0)
    lines = _issue_figures(results, {}, args)
    assert any(
        "#13 json: token (built-in store, 10,000 tenants) ÷ JWT multi-tenant" in line
        and "**0.930**" in line
        for line in lines
    )
    assert any(
        "#13 json: token ÷ JWT, both in built-in-store mode" in line and "**0.989**" in line
        for line in lines
    )


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)"
)
def test_paired_harness_loads_each_pair_together_and_writes_a_report(tmp_path):
    result = _bench(
        "bench.paired",
        "--store",
        "3",
        "--rounds",
        "1",
        "--duration",
        "1",
        "--upstream",
        "python",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for mode in ("json", "stream"):
        assert f"(`gateway-store` ÷ `gateway-mt`) | {mode} | **" in report
        assert f"(`gateway-store` ÷ `gateway-store-jwt`) | {mode} | **" in report
        assert f"(`gateway` ÷ `bare`) | {mode} | **" in report
        assert f"(`gateway-mt` ÷ `gateway`) | {mode} | **" in report


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)"
)
def test_paired_harness_runs_one_issues_pairs(tmp_path):
    """`--issue 18`: only the static, bare and multi-tenant pairs, and no store filled."""
    result = _bench(
        "bench.paired",
        *("--issue", "18", "--rounds", "1", "--duration", "1", "--upstream", "python"),
        *("--out", str(tmp_path)),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for mode in ("json", "stream"):
        assert f"(`gateway` ÷ `bare`) | {mode} | **" in report
        assert f"(`gateway-mt` ÷ `gateway`) | {mode} | **" in report
    assert "gateway-store" not in report and "built-in store" not in report
    assert not list(tmp_path.glob("*.db"))


def test_the_paired_cpu_ratio_ignores_how_the_shared_core_was_split():
    """A target that got two thirds of the core (a second runnable thread) serves twice
    B's requests at the same CPU per request: its req/s ratio says 2, its CPU ratio 1."""
    from bench.paired import Round

    same_cost = Round(rps=(2000.0, 1000.0), cpu_us=(150.0, 150.0), errors=0)
    assert same_cost.rps_ratio == 2.0 and same_cost.cpu_ratio == 1.0
    dearer = Round(rps=(1000.0, 1000.0), cpu_us=(160.0, 150.0), errors=0)
    assert dearer.cpu_ratio == pytest.approx(0.9375)
