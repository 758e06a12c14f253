"""What budgets and limits cost the gateway: CPU per request, throughput and latency.

Two one-worker static gateways in one run, interleaved round by round: `gateway`
(no budget, no limits) and `gateway-money` (a budget and RPM/TPM limits it never
reaches, a private Redis beside it: every request makes one reservation and one
settlement). wrk drives JSON chat at c=50 (throughput) and c=1 (latency). Besides
wrk's figures it reads the worker's own CPU seconds from /proc, so CPU per request,
the figure that bounds throughput on a saturated core, is reported even on a shared,
noisy machine where req/s swing between rounds. Quote the ratios.

    python -m bench.money [--duration 8] [--rounds 3] [--redis-cpu load|server|any]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
from pathlib import Path

from bench import processes as ps
from bench import targets as tg
from bench.wrk import wrk

RESULTS = Path(__file__).with_name("results")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--redis-cpu",
        choices=("load", "server", "any"),
        default="load",
        help="pin Redis with wrk and the upstream (load), with the gateway (server), or not",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("money-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    server_cpu, load_cpu = ("0", "1") if ps.cpu_count() >= 2 else (None, None)
    redis_cpu = {"load": load_cpu, "server": server_cpu, "any": None}[args.redis_cpu]
    body = tg.JSON_BODY
    rows: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    with ps.Processes(out / "logs") as procs:
        _, json_url, sse_url = tg.start_upstream("auto", procs, out, load_cpu)
        money = tg.start_gateway_money(procs, out, json_url, sse_url, server_cpu, redis_cpu)
        if money is None:
            raise SystemExit("bench.money needs redis-server")
        urls = {
            "gateway": tg.start_gateway(procs, out, json_url, sse_url, server_cpu),
            "gateway-money": money[0],
        }
        workers = {name: ps.children(procs.named(name).pid)[0] for name in urls}
        for url in urls.values():
            wrk(url + "/v1/chat/completions", body, 10, 2, load_cpu)  # warm-up
        for _ in range(args.rounds):
            for conc in (50, 1):
                for name, url in urls.items():
                    before = ps.cpu_seconds(workers[name])
                    sample = wrk(f"{url}/v1/chat/completions", body, conc, args.duration, load_cpu)
                    cpu = ps.cpu_seconds(workers[name]) - before
                    us = cpu / (sample.rps * args.duration) * 1e6
                    rows.setdefault((name, conc), []).append((sample.rps, sample.p50_ms, us))
    report = _render(rows, args)
    (out / "report.md").write_text(report)
    print(report)
    return out


def _render(
    rows: dict[tuple[str, int], list[tuple[float, float, float]]], args: argparse.Namespace
) -> str:
    def med(name: str, conc: int, i: int) -> float:
        return statistics.median(r[i] for r in rows[name, conc])

    lines = [
        f"# Budgets and limits: cost — {dt.datetime.now():%Y-%m-%d %H:%M:%S}",
        "",
        f"wrk -t1, JSON chat, {args.duration:g} s per point, {args.rounds} interleaved rounds, "
        f"medians; Redis pinned: {args.redis_cpu}. A shared, noisy machine: quote ratios.",
        "",
        "| target | c | req/s | p50 ms | worker CPU µs/request |",
        "|---|---|---|---|---|",
    ]
    for conc in (50, 1):
        for name in ("gateway", "gateway-money"):
            lines.append(
                f"| {name} | {conc} | {med(name, conc, 0):,.0f} | {med(name, conc, 1):.3f} "
                f"| {med(name, conc, 2):.1f} |"
            )
    lines += [
        "",
        f"- throughput ratio at c=50 (money ÷ plain): "
        f"{med('gateway-money', 50, 0) / med('gateway', 50, 0):.2f}",
        f"- CPU per request ratio at c=50 (plain ÷ money: the throughput ratio on a "
        f"saturated core): {med('gateway', 50, 2) / med('gateway-money', 50, 2):.2f}",
        f"- added median latency at c=1: "
        f"{med('gateway-money', 1, 1) - med('gateway', 1, 1):.3f} ms",
        "",
        "Every round (req/s, p50 ms, CPU µs/request):",
        "",
    ]
    for (name, conc), samples in sorted(rows.items()):
        lines.append(
            f"- {name} c{conc}: " + "; ".join(f"{r:.0f}, {p:.3f}, {u:.1f}" for r, p, u in samples)
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
