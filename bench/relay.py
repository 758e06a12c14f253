"""The raw relay cost: wrk against the upstream, a bare aiohttp relay and the gateway
in each mode, and the figures issues #13 and #14 ask for, from one run.

All in one run, interleaved round by round, every other round in reverse order (so
machine noise and drift hit all targets alike):
the gateways (one gunicorn worker each) and the bare relay pinned to CPU 0, the
upstream, Redis and wrk on CPU 1. Reports requests/s and median latency at each
concurrency for JSON and streaming chat, the gateway's throughput relative to the bare
relay, and the median latency it adds over going direct. `--instructions` adds
callgrind counts of CPU instructions per request for every target (`bench.instructions`:
deterministic, immune to noisy neighbours) and Redis commands per request.

    python -m bench.relay [--duration 10] [--rounds 3] [--concurrency 1,10,50]
                          [--upstream auto|nginx|python] [--instructions]
                          [--instructions-only] [--targets NAMES]
                          [--baseline DIR] [--store N] [--compare [--wall-clock-only]]

`--compare` measures c=1 and c=50 with instructions counted and ends the report with
one table of issue #18's ratios: static ÷ bare throughput at c=50, the median latency
the gateway adds at c=1 against the bare relay's, multi-tenant (JWT) ÷ static, p99 ÷ p50
at c=1, the gateway worker's RSS after warm-up and at the end, and callgrind
instructions per request, gateway ÷ bare (it keeps the targets it needs: gateway-mt,
and gateway-base with `--baseline`, unless `--targets` names others).

The issues' figures, printed under "Issue figures" (run with `--store 10000
--concurrency 1,50`):
- #13: `gateway-store` (built-in-store mode, SQLite, no Redis, N tenants created
  through the management API, called with a minted proxy token) ÷ `gateway-mt` (JWTs,
  Config API), throughput at c=50; and ÷ `gateway-store-jwt` (the same store served
  by a second gateway, called with a JWT): the proxy-token check alone, both sides
  keeping the usage ledger that `gateway-mt` does not have.
- #14: `gateway-money` (static, a budget and RPM/TPM limits it never reaches, a private
  Redis) ÷ `gateway`, throughput at c=50, and the median latency it adds at c=1; with
  the Redis commands it sent per request (INFO commandstats around each wrk run).

`--baseline DIR` adds `gateway-base`: the same static gateway run from another
source tree (e.g. `git worktree add /tmp/base HEAD~5`), measured in the same
interleaved rounds and, with `--instructions`, counted too: before/after figures
from one run. `--targets` keeps only the named optional targets (gateway-mt,
gateway-money, gateway-store, gateway-store-jwt, gateway-base, translated); direct, bare and gateway
always run.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import shutil
from pathlib import Path
from typing import TypeVar

from bench import instructions as ins
from bench import processes as ps
from bench import relay_report
from bench import targets as tg
from bench.wrk import Sample, wrk

T = TypeVar("T")
RESULTS = Path(__file__).with_name("results")
Results = dict[tuple[str, int, str], list["Sample"]]


def main(argv: list[str] | None = None) -> Path:
    args = _parser().parse_args(argv)
    base_env = _baseline_env(args.baseline)
    if shutil.which("wrk") is None and not args.instructions_only:
        raise SystemExit(
            "bench.relay needs wrk: apt-get install -y wrk (and nginx-light for the upstream)"
        )
    out = args.out or RESULTS / ("relay-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    if args.compare:
        args.concurrency = "1,50"
        args.instructions = not args.wall_clock_only
        args.targets = args.targets or ",".join(["gateway-mt"] + ["gateway-base"] * bool(base_env))
    args.only = frozenset(args.targets.split(",")) if args.targets else None
    results: Results = {}
    redis_calls: dict[tuple[str, int], list[dict[str, float]]] = {}
    if not args.instructions_only:
        args.kind = _run_wrk(args, out, base_env, results, redis_calls)
    report = relay_report.render(results, redis_calls, args, None)
    (out / "report.md").write_text(report)  # kept even if the callgrind phase fails
    if args.instructions or args.instructions_only:
        only = args.only | {"gateway", "bare"} if args.only is not None else None
        counts = ins.count_instructions(
            out, args.upstream, base_env, store_tenants=args.store, only=only
        )
        report = relay_report.render(results, redis_calls, args, counts)
        (out / "report.md").write_text(report)
    print(report)
    print(f"written: {out / 'report.md'}")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with callgrind"
    )
    parser.add_argument(
        "--instructions-only", action="store_true", help="count instructions, no wrk"
    )
    parser.add_argument("--targets", help="comma-separated optional targets to keep")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another source tree of the gateway to measure beside this one (gateway-base)",
    )
    parser.add_argument(
        "--store",
        type=int,
        default=0,
        metavar="N",
        help="add gateway-store: built-in-store mode with N tenants made through the API",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="c=1 and c=50 with --instructions; ends with one table of the target ratios",
    )
    parser.add_argument(
        "--wall-clock-only", action="store_true", help="with --compare: no callgrind phase"
    )
    return parser


Targets = dict[str, dict[str, tuple[str, dict[str, str]]]]


def start_targets(
    args: argparse.Namespace, procs: ps.Processes, out: Path, base_env: dict[str, str]
) -> tuple[str, Targets, int | None]:
    """Every target, ready: (upstream kind, {mode: {name: (url, headers)}}, the money
    gateway's Redis port)."""
    server_cpu, load_cpu = ("0", "1") if ps.cpu_count() >= 2 else (None, None)

    def wanted(name: str) -> bool:
        return args.only is None or name in args.only

    kind, json_url, sse_url = tg.start_upstream(args.upstream, procs, out, load_cpu)
    gateway = tg.start_gateway(procs, out, json_url, sse_url, server_cpu)
    bare_json = tg.start_bare(procs, "bare-json", json_url, server_cpu)
    bare_sse = (
        bare_json if sse_url == json_url else tg.start_bare(procs, "bare-sse", sse_url, server_cpu)
    )
    optional: dict[str, tuple[str, dict[str, str]] | None] = {}
    if base_env and wanted("gateway-base"):
        optional["gateway-base"] = (
            tg.start_gateway(
                procs, out, json_url, sse_url, server_cpu, name="gateway-base", env=base_env
            ),
            {},
        )
    if wanted("gateway-mt"):
        optional["gateway-mt"] = tg.start_gateway_mt(
            procs, out, json_url, sse_url, server_cpu, load_cpu
        )
    money_redis = None
    if wanted("gateway-money"):
        money = tg.start_gateway_money(procs, out, json_url, sse_url, server_cpu, load_cpu)
        if money is not None:
            optional["gateway-money"], money_redis = (money[0], {}), money[1]
    if args.store and wanted("gateway-store"):
        key = base64.b64encode(os.urandom(32)).decode()
        optional["gateway-store"], args.store_create_s = tg.start_gateway_store(
            procs, out, json_url, sse_url, server_cpu, args.store, encryption_key=key
        )
        if wanted("gateway-store-jwt"):
            database = out / "gateway-store.db"
            optional["gateway-store-jwt"] = tg.start_gateway_store_jwt(
                procs, out, database, key, server_cpu
            )
    targets: Targets = {}
    for mode, direct, bare in (("json", json_url, bare_json), ("stream", sse_url, bare_sse)):
        targets[mode] = {"direct": (direct, {}), "bare": (bare, {}), "gateway": (gateway, {})}
        targets[mode] |= {name: t for name, t in optional.items() if t is not None}
    return kind, targets, money_redis


def _run_wrk(
    args: argparse.Namespace,
    out: Path,
    base_env: dict[str, str],
    results: Results,
    redis_calls: dict[tuple[str, int], list[dict[str, float]]],
) -> str:
    """Every target at every concurrency, interleaved round by round; Redis commands
    per request of `gateway-money` counted around each of its runs."""
    load_cpu = "1" if ps.cpu_count() >= 2 else None
    levels = [int(c) for c in args.concurrency.split(",")]
    bodies = {"json": tg.JSON_BODY, "stream": tg.STREAM_BODY}
    with ps.Processes(out / "logs") as procs:
        kind, targets, money_redis = start_targets(args, procs, out, base_env)
        counts = ins.CommandCounts(money_redis)
        for mode, urls in targets.items():  # warm-up: pools, memos, the tenant's config
            for url, headers in urls.values():
                wrk(url + ins.PATH, bodies[mode], 10, 2, load_cpu, headers)
        args.rss = [worker_rss_mib(procs.named("gateway").pid)]
        for round_no in range(args.rounds):
            for mode, urls in targets.items():
                for conc in levels:
                    for name, (url, headers) in in_round_order(urls, round_no):
                        counted = name == "gateway-money" and money_redis is not None
                        before = counts.read() if counted else {}
                        sample = wrk(
                            url + ins.PATH, bodies[mode], conc, args.duration, load_cpu, headers
                        )
                        results.setdefault((mode, conc, name), []).append(sample)
                        if counted:
                            calls = ins.per_request(before, counts.read(), sample.requests)
                            redis_calls.setdefault((mode, conc), []).append(calls)
        args.rss.append(worker_rss_mib(procs.named("gateway").pid))
        counts.close()
    return kind


def in_round_order(urls: dict[str, T], round_no: int) -> list[tuple[str, T]]:
    """The targets of a round in their order, every other round reversed: a drift of
    the host within a round (a neighbour starting, the CPU's clock) would otherwise
    always favour the targets measured first; reversed, it cancels in the medians."""
    items = list(urls.items())
    return items[::-1] if round_no % 2 else items


def worker_rss_mib(master: int) -> float:
    """The resident memory of the gunicorn worker under `master` (the largest child)."""
    sizes = [0.0]
    for pid in ps.children(master):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(sizes)


def _baseline_env(tree: Path | None) -> dict[str, str]:
    """The environment that runs the gateway from `tree` instead of this checkout."""
    if tree is None:
        return {}
    if not (tree / "proxy" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {tree}: no proxy/ package there")
    return {"PYTHONPATH": str(tree.resolve())}


if __name__ == "__main__":
    main()
