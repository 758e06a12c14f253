"""Two targets at once on one shared core: ratios a noisy host cannot tilt.

`bench.relay` measures its targets one after another, each alone on its core. On a
shared virtual machine whose speed swings by a quarter from one second to the next,
a ratio of two such figures moves by several percent from run to run. Here both
targets of a pair are pinned to the same core and loaded at the same moment (one wrk
each, c=50, on the other core), so whatever the host does, it does to both. Per pair
and round two figures:

- req/s ratio, A ÷ B: what each got of the shared core;
- CPU ratio, B's CPU time per request ÷ A's (from /proc, threads included): A's
  throughput relative to B's on a core of its own. It does not depend on how the
  scheduler split the core (a process with a second runnable thread, like the store's
  SQLite writer, gets a larger share while that thread runs; the req/s ratio counts
  that in A's favour, this one does not).

The pairs are the issues' ratios: #13 token (built-in store, N tenants) ÷ JWT
multi-tenant (Config API), and ÷ JWT within built-in-store mode; #18 static ÷ bare
relay and multi-tenant (JWT) ÷ static. Medians over the rounds; the report also lists
every round.

    python -m bench.paired [--store 10000] [--rounds 7] [--duration 5]
                           [--upstream auto|nginx|python] [--issue 13|18] [--out DIR]

`--issue` keeps one issue's pairs: more rounds in the same time, for a median that
moves less from run to run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path

from bench import processes as ps
from bench import targets as tg
from bench.relay import RESULTS, start_targets
from bench.wrk import Sample, wrk

PATH = "/v1/chat/completions"
CONCURRENCY = 50
PAIRS = (
    ("gateway-store", "gateway-mt", "#13 token (built-in store) ÷ JWT multi-tenant (Config API)"),
    ("gateway-store", "gateway-store-jwt", "#13 token ÷ JWT, both in built-in-store mode"),
    ("gateway", "bare", "#18 static gateway ÷ bare relay"),
    ("gateway-mt", "gateway", "#18 multi-tenant (JWT) ÷ static"),
)


@dataclass(frozen=True)
class Round:
    rps: tuple[float, float]  # A, B
    cpu_us: tuple[float, float]  # CPU time per request, A, B
    errors: int

    @property
    def rps_ratio(self) -> float:
        return self.rps[0] / self.rps[1]

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_us[1] / self.cpu_us[0]


def main(argv: list[str] | None = None) -> Path:
    args = _parser().parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.paired needs wrk: apt-get install -y wrk (and nginx-light)")
    out = args.out or RESULTS / ("paired-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    pairs = [p for p in PAIRS if args.issue is None or p[2].startswith(f"#{args.issue} ")]
    args.only = frozenset({"gateway-mt", "gateway-store", "gateway-store-jwt"})
    if args.issue == "18":
        args.store = 0  # no store to fill: #18's pairs are static, bare and multi-tenant
    load_cpu = "1" if ps.cpu_count() >= 2 else None
    bodies = {"json": tg.JSON_BODY, "stream": tg.STREAM_BODY}
    rounds: dict[tuple[str, str, str], list[Round]] = {}
    with ps.Processes(out / "logs") as procs:
        _, targets, _ = start_targets(args, procs, out, {})
        for mode, urls in targets.items():  # warm-up: pools, memos, the tenant's config
            for url, headers in urls.values():
                wrk(url + PATH, bodies[mode], 10, 2, load_cpu, headers)
        paired = {name for pair in pairs for name in pair[:2]}
        pids = {
            (mode, name): _server_pid(procs, name, mode)
            for mode, urls in targets.items()
            for name in urls
            if name in paired
        }
        for _ in range(args.rounds):
            for mode, urls in targets.items():
                for a, b, _label in pairs:
                    if a not in urls or b not in urls:
                        continue
                    pair = (pids[mode, a], pids[mode, b])
                    loads = (urls[a], urls[b])
                    got = _together(loads, pair, bodies[mode], args.duration, load_cpu)
                    rounds.setdefault((mode, a, b), []).append(got)
    report = render(rounds, args)
    (out / "report.md").write_text(report)
    print(report)
    print(f"written: {out / 'report.md'}")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=int, default=10_000, help="tenants in the store")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--issue", choices=("13", "18"), help="only this issue's pairs")
    parser.add_argument("--out", type=Path)
    return parser


def _server_pid(procs: ps.Processes, target: str, mode: str) -> int:
    """The process that serves `target`: a gunicorn master's worker, or the relay."""
    names = [s for s, _ in procs.started]
    if target == "bare":
        target = "bare-sse" if mode == "stream" and "bare-sse" in names else "bare-json"
    pid = procs.named(target).pid
    workers = ps.children(pid)
    return workers[0] if len(workers) == 1 else pid


def _together(
    loads: tuple[tuple[str, dict[str, str]], ...],
    pids: tuple[int, int],
    body: str,
    duration: float,
    cpus: str | None,
) -> Round:
    """Both targets loaded at once; their req/s and CPU per request."""
    samples: list[Sample | None] = [None, None]

    def run(i: int) -> None:
        url, headers = loads[i]
        samples[i] = wrk(url + PATH, body, CONCURRENCY, duration, cpus, headers)

    before = [ps.cpu_seconds(pid) for pid in pids]
    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = [ps.cpu_seconds(pid) for pid in pids]
    a, b = samples
    if a is None or b is None:
        raise RuntimeError("a wrk run failed")
    cpu = tuple((after[i] - before[i]) / max(s.requests, 1) * 1e6 for i, s in enumerate((a, b)))
    return Round((a.rps, b.rps), (cpu[0], cpu[1]), a.errors + b.errors)


def render(rounds: dict[tuple[str, str, str], list[Round]], args: argparse.Namespace) -> str:
    labels = {(a, b): label for a, b, label in PAIRS}
    lines = [
        f"# Paired ratios — {dt.datetime.now():%Y-%m-%d %H:%M:%S}",
        "",
        f"Both targets of a pair pinned to one core and loaded together (wrk -t1 -c{CONCURRENCY} "
        f"each, on the other core), {args.duration:g} s a round, {args.rounds} rounds"
        + (f"; built-in store with {args.store:,} tenants" if args.store else "")
        + ". CPU ratio: B's CPU time per request ÷ A's (A's throughput on a core of its own "
        "relative to B's). Medians, [min–max].",
        "",
        "| pair | mode | CPU ratio | req/s ratio | CPU µs/request A / B | errors |",
        "|---|---|---|---|---|---|",
    ]
    for (mode, a, b), got in rounds.items():
        cpu = [r.cpu_ratio for r in got]
        rps = [r.rps_ratio for r in got]
        lines.append(
            f"| {labels[a, b]} (`{a}` ÷ `{b}`) | {mode} | **{statistics.median(cpu):.3f}** "
            f"[{min(cpu):.3f}–{max(cpu):.3f}] | {statistics.median(rps):.3f} "
            f"[{min(rps):.3f}–{max(rps):.3f}] | "
            f"{statistics.median(r.cpu_us[0] for r in got):.1f} / "
            f"{statistics.median(r.cpu_us[1] for r in got):.1f} | "
            f"{sum(r.errors for r in got)} |"
        )
    lines += ["", "Every round (CPU ratio / req/s ratio):", ""]
    for (mode, a, b), got in rounds.items():
        each = ", ".join(f"{r.cpu_ratio:.3f}/{r.rps_ratio:.3f}" for r in got)
        lines.append(f"- {mode} `{a}` ÷ `{b}`: {each}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
