"""A gateway worker's memory under sustained load: RSS of the one gunicorn worker
(static mode, its defaults on) sampled while wrk holds c=50 for `--minutes`, JSON and
streaming chat alternating every sample interval. Target (issue #18): < 80 MiB and
flat, within ±5 % of the first sample after warm-up.

    python -m bench.memory [--minutes 10] [--interval 30] [--upstream auto|nginx|python]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from pathlib import Path

from bench import processes as ps
from bench import targets as tg
from bench.relay import RESULTS, worker_rss_mib
from bench.wrk import wrk


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.memory needs wrk: apt-get install -y wrk nginx-light")
    out = args.out or RESULTS / ("memory-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    server_cpu, load_cpu = ("0", "1") if ps.cpu_count() >= 2 else (None, None)
    rows = []
    with ps.Processes(out / "logs") as procs:
        _, json_url, sse_url = tg.start_upstream(args.upstream, procs, out, load_cpu)
        gateway = tg.start_gateway(procs, out, json_url, sse_url, server_cpu)
        pid = procs.named("gateway").pid
        bodies = (tg.JSON_BODY, tg.STREAM_BODY)
        for body in bodies:  # warm-up: pools, memos, allocator arenas
            wrk(gateway + "/v1/chat/completions", body, 50, 5, load_cpu, {})
        first = last = worker_rss_mib(pid)
        samples = max(1, round(args.minutes * 60 / args.interval))
        for i in range(samples):
            s = wrk(
                gateway + "/v1/chat/completions", bodies[i % 2], 50, args.interval, load_cpu, {}
            )
            last = worker_rss_mib(pid)
            rows.append(
                f"| {(i + 1) * args.interval:.0f} | {s.rps:,.0f} | {s.errors} | {last:.1f} |"
            )
            print(rows[-1], flush=True)
    report = "\n".join(
        [
            f"# Worker memory at c=50 — {dt.datetime.now():%Y-%m-%d %H:%M:%S}",
            "",
            f"After warm-up: {first:.1f} MiB; at the end: {last:.1f} MiB "
            f"({(last - first) / first * 100:+.1f} %). Target: < 80 MiB, within ±5 %.",
            "",
            "| seconds | req/s | errors | worker RSS MiB |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    (out / "report.md").write_text(report)
    print(report)
    return out


if __name__ == "__main__":
    main()
