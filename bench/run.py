"""The gateway benchmark: one command, everything on one machine (`make bench`).

Starts a private Redis, the mock upstream, the mock Config API and the gateway
under gunicorn; measures the mock upstream alone; runs Locust headless against the
mock directly (the baseline) and then against the gateway (after a warm-up);
stops everything; writes bench/results/<timestamp>/ with Locust's CSV and HTML, a
report.md and (with the `bench` extra) PNG plots.

    python -m bench.run [--mode multi|static] [--workers N] [--replicas 1] [--users 50]
                        [--duration 60] [--tenants 10000] [--mix uniform|hot] ...

`--replicas N` starts N gateways (each with --workers) sharing the Redis and the
Config API; Locust spreads its users over them round-robin (BENCH_HOSTS) and the
report sums them (per-replica rows beside the totals).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from bench import processes as ps
from bench import report

RESULTS = Path(__file__).with_name("results")
LOCUST = str(Path(sys.executable).with_name("locust"))
LOCUSTFILE = str(Path(__file__).with_name("locustfile.py"))
ROWS = ["chat json", "chat stream", "proxy overhead", "time to first byte"]
JWT_SECRET = "bench-secret-not-for-production"  # HS256; Locust mints tokens with it


class Sampler(threading.Thread):
    """CPU time and peak RSS of the gateway's workers while a phase runs."""

    def __init__(self, masters: list[int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self._masters = masters
        self._interval = interval
        self._halt = threading.Event()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak_rss: dict[int, float] = {}
        self.started = time.monotonic()
        self.elapsed = 0.0

    def run(self) -> None:
        while not self._halt.is_set():
            self._sample()
            self._halt.wait(self._interval)
        self._sample()

    def _sample(self) -> None:
        for pid in (child for master in self._masters for child in ps.children(master)):
            try:
                cpu, rss = ps.cpu_seconds(pid), ps.peak_rss_mib(pid)
            except OSError:
                continue
            self.first.setdefault(pid, cpu)
            self.last[pid] = cpu
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0.0), rss)
        self.elapsed = time.monotonic() - self.started

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def lines(self) -> list[str]:
        out = ["| worker pid | CPU (cores, average) | peak RSS MiB |", "|---|---|---|"]
        for pid in sorted(self.last):
            cores = (self.last[pid] - self.first[pid]) / max(self.elapsed, 1e-9)
            out.append(f"| {pid} | {cores:.2f} | {self.peak_rss[pid]:.1f} |")
        return out


def locust(
    out: Path,
    name: str,
    host: str,
    env: dict[str, str],
    args: argparse.Namespace,
    duration: float,
    *,
    csv: bool = True,
) -> Path:
    prefix = out / name
    cmd = [
        LOCUST,
        "-f",
        LOCUSTFILE,
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{duration:g}s",
        "--host",
        host,
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "10",
    ]
    if csv:
        cmd += [
            "--csv",
            str(prefix),
            "--csv-full-history",
            "--html",
            f"{prefix}.html",
            "--json-file",
            str(prefix),
        ]
    cpus = None if args.locust_cpus == "any" else args.locust_cpus
    env = {
        **os.environ,
        **env,
        "BENCH_TENANTS": str(args.tenants),
        "BENCH_MIX": args.mix,
        "BENCH_STREAM": str(args.stream),
        "PYTHONPATH": str(Path(__file__).parent.parent),
    }
    with open(out / f"{name}-locust.log", "wb") as log:
        subprocess.run(
            ps.pinned(cmd, cpus), env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    return prefix


def mock_capacity(url: str) -> str:
    if shutil.which("wrk") is None:
        return "not measured (wrk is not installed)"
    script = Path("/tmp/tp-bench-mock.lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.body = "{\\"model\\":\\"gpt-4o-mini\\"}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c50", "-d3s", "-s", str(script), url + "/v1/chat/completions"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return f"{float(line.split()[1]):,.0f} req/s (wrk, 50 connections, JSON)"
    return "not measured (wrk failed)"


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("multi", "static"), default="multi")
    parser.add_argument("--workers", type=int, default=max(1, ps.cpu_count() // 2))
    parser.add_argument(
        "--replicas", type=int, default=1, help="gateways sharing Redis and the Config API"
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--baseline-duration", type=float, help="default: --duration")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--mix", choices=("uniform", "hot"), default="uniform")
    parser.add_argument("--stream", type=float, default=0.5, help="fraction of streaming requests")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mock upstream latency")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="mock upstream stream pace"
    )
    parser.add_argument("--mock-processes", type=int, default=1)
    parser.add_argument(
        "--locust-cpus", default="any", help="taskset CPU list for Locust, or 'any'"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out or RESULTS / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with ps.Processes(out / "logs") as procs:
        upstream = f"http://127.0.0.1:{ps.free_port()}"
        mock = procs.start(
            "mock-upstream",
            [
                ps.PYTHON,
                "-m",
                "bench.mock_upstream",
                "--port",
                upstream.rsplit(":", 1)[1],
                "--latency-ms",
                str(args.latency_ms),
                "--chunk-delay-ms",
                str(args.chunk_delay_ms),
                "--processes",
                str(args.mock_processes),
            ],
        )
        ps.wait_http(upstream + "/stats", mock)
        capacity = mock_capacity(upstream)
        gateway_env = {
            "PROXY_HOST": "127.0.0.1",
            "PROXY_PORT": str(ps.free_port()),
            "PROXY_WORKERS": str(args.workers),
            "PROMETHEUS_MULTIPROC_DIR": str(out / "metrics-db"),
            "PROXY_REQUEST_LOG": "1",
        }
        config_api = None
        if args.mode == "multi":
            redis_port = ps.free_port()
            if shutil.which("redis-server") is None:
                raise SystemExit(
                    "bench.run --mode multi needs redis-server (apt-get install -y redis-server)"
                )
            ps.start_redis(procs, redis_port)
            config_api = ps.start_config_api(procs, ps.free_port(), args.tenants, upstream)
            gateway_env |= {
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "CONFIG_API_URL": config_api,
                "AUTH_JWT_SECRET": JWT_SECRET,
                "UPSTREAM_ALLOW_PRIVATE": "1",  # the mock upstream lives on loopback
                "PROXY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            }
        else:
            config = out / "gateway.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "models": [
                            {
                                "model_name": "gpt-4o-mini",
                                "provider": "openai",
                                "api_base": upstream,
                                "api_key": "sk-bench-static-key",
                                "input_cost_per_mtok": 0.15,
                                "output_cost_per_mtok": 0.60,
                            },
                        ]
                    }
                )
            )
            gateway_env["PROXY_CONFIG"] = str(config)
        gateways = start_gateways(procs, gateway_env, args.replicas, out)
        gateway, hosts = gateways[0][0], ",".join(url for url, _ in gateways)
        target = "gateway-multi" if args.mode == "multi" else "gateway-static"

        baseline = None
        if not args.no_baseline:
            baseline = locust(
                out,
                "direct",
                upstream,
                {"BENCH_TARGET": "direct"},
                args,
                args.baseline_duration or args.duration,
            )
        to_gateways = {"BENCH_TARGET": target, "BENCH_HOSTS": hosts}
        if args.warmup:
            locust(out, "warmup", gateway, to_gateways, args, args.warmup, csv=False)
        before = "".join(scrape(url) for url, _ in gateways)
        sampler = Sampler([proc.pid for _, proc in gateways])
        sampler.start()
        samples = out / "overhead-samples.txt"
        main_prefix = locust(
            out,
            "gateway",
            gateway,
            {**to_gateways, "BENCH_SAMPLES": str(samples)},
            args,
            args.duration,
        )
        sampler.stop()
        after = "".join(scrape(url) for url, _ in gateways)
        api_stats = ""
        if config_api:
            with urllib.request.urlopen(config_api + "/stats", timeout=5) as resp:
                api_stats = resp.read().decode()
    plots = []
    if report.plot_history(main_prefix, out / "latency-over-time.png"):
        plots.append("latency-over-time.png")
    if report.plot_overhead(samples, out / "overhead-histogram.png"):
        plots.append("overhead-histogram.png")
    if not plots:
        notes.append("No plots: install the `bench` extra (matplotlib).")
    text = render(
        args, capacity, baseline, main_prefix, before, after, api_stats, sampler, plots, notes
    )
    (out / "report.md").write_text(text)
    print(text)
    print(f"written: {out}")
    return out


def start_gateways(
    procs: ps.Processes, env: dict[str, str], replicas: int, out: Path
) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """`replicas` gateways, each on its own port and metrics directory."""
    started = []
    for n in range(1, replicas + 1):
        port = env["PROXY_PORT"] if n == 1 else str(ps.free_port())
        replica_env = {**env, "PROXY_PORT": port}
        if n > 1:
            replica_env["PROMETHEUS_MULTIPROC_DIR"] = str(out / f"metrics-db-{n}")
        name = "gateway" if n == 1 else f"gateway-{n}"
        proc = procs.start(name, [ps.TENANT_PROXY, "serve"], env=replica_env)
        started.append((f"http://127.0.0.1:{port}", proc))
    for url, proc in started:
        ps.wait_http(url + "/healthz", proc)
    return started


def render(
    args: argparse.Namespace,
    capacity: str,
    baseline: Path | None,
    main_prefix: Path,
    before: str,
    after: str,
    api_stats: str,
    sampler: Sampler,
    plots: list[str],
    notes: list[str],
) -> str:
    gw = report.read_stats(main_prefix)
    gw.pop("proxy overhead (us)", None)
    exact = report.samples_row(main_prefix.parent / "overhead-samples.txt", args.duration)
    if exact is not None:
        gw["proxy overhead"] = exact
    lines = [
        f"# Gateway benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        f"- mode: **{args.mode}**, replicas: {args.replicas} × {args.workers} gunicorn "
        f"workers, Locust users: {args.users} "
        f"(closed loop, no think time), duration: {args.duration:g} s "
        f"after a {args.warmup:g} s warm-up",
        f"- tenants: {args.tenants:,} ({args.mix} mix), streaming share: {args.stream:.0%}, "
        f"mock latency: {args.latency_ms:g} ms, stream pace: {args.chunk_delay_ms:g} ms/chunk",
        f"- machine: {ps.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}; Locust, the mocks and the gateway share it",
        f"- mock upstream alone: {capacity}",
        "",
    ]
    e2e_rps = sum(r.rps for n, r in gw.items() if n in ("chat json", "chat stream"))
    failures = sum(r.failures for n, r in gw.items() if n in ("chat json", "chat stream"))
    lines += [f"Gateway throughput: **{e2e_rps:,.1f} req/s**, failures: {failures:,}.", ""]
    lines += report.table("Through the gateway", gw, ROWS)
    for replica, rows in report.read_replica_stats(main_prefix).items():
        lines += report.table(f"Replica {replica} (its share)", report.in_ms(rows), ROWS)
    if baseline is not None:
        lines += report.table(
            "Direct to the mock upstream (baseline, same run)",
            report.read_stats(baseline),
            ["chat json", "chat stream", "time to first byte"],
        )
    failures_list = report.read_failures(main_prefix)
    if failures_list:
        lines += ["**Errors**", "", *[f"- {f}" for f in failures_list], ""]
    lookups = {
        k: report.metric_total(after, "tenant_proxy_config_lookups_total", f'result="{k}"')
        - report.metric_total(before, "tenant_proxy_config_lookups_total", f'result="{k}"')
        for k in ("l1_hit", "l2_hit", "miss", "error")
    }
    total = sum(lookups.values())
    if total:
        hits = lookups["l1_hit"] + lookups["l2_hit"]
        lines += [
            f"Config cache: hit ratio {hits / total:.2%} over {total:,.0f} lookups "
            f"(L1 {lookups['l1_hit']:,.0f}, L2 {lookups['l2_hit']:,.0f}, "
            f"miss {lookups['miss']:,.0f}, error {lookups['error']:,.0f}).",
            "",
        ]
    elif args.mode == "static":
        lines += ["Config cache: not applicable (static mode).", ""]
    if api_stats:
        lines += [f"Mock Config API: {api_stats}", ""]
    lines += ["**Gateway workers during the measured phase**", "", *sampler.lines(), ""]
    lines += [f"![{p}]({p})" for p in plots]
    lines += [
        "",
        "Locust's own report: `gateway.html` (and `direct.html`); raw CSVs beside it.",
        "Proxy overhead = end-to-end time (time to headers for streams) minus the upstream "
        "time the gateway reports in x-upstream-request-start/stop.",
        *notes,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
