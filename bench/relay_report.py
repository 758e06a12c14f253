"""`bench.relay`'s report: throughput and latency per target, the figures issues #13
and #14 ask for, and (with `--instructions`) instructions and Redis commands per request.
"""

from __future__ import annotations

import argparse
import statistics
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bench.instructions import Counted

if TYPE_CHECKING:
    from bench.relay import Results

PINNED = "Gateway and relay pinned to CPU 0, upstream, Redis and wrk to CPU 1."
ORDER = [
    "direct",
    "bare",
    "gateway-base",
    "gateway",
    "gateway-mt",
    "gateway-money",
    "gateway-store",
    "gateway-store-jwt",
]
RedisCalls = dict[tuple[str, int], list[dict[str, float]]]
Counts = dict[tuple[str, str], Counted]


def render(
    results: Results,
    redis_calls: RedisCalls,
    args: argparse.Namespace,
    counts: Counts | None,
) -> str:
    lines = [f"# Relay cost — {time.strftime('%Y-%m-%d %H:%M:%S')}", ""]
    if results:
        lines += _issue_figures(results, redis_calls, args)
        lines += _throughput(results, args)
    if counts:
        lines += _instructions(counts)
    if getattr(args, "compare", False):
        lines += render_compare(results, counts, getattr(args, "rss", [0.0]))
    lines += [
        "",
        textwrap.dedent("""\
        Added latency is a target's median minus the upstream's median at the same
        concurrency; at concurrency 1 it is the per-request cost of the hop."""),
    ]
    return "\n".join(lines) + "\n"


def _median(results: Results, key: tuple[str, int, str], attr: str) -> float:
    return float(statistics.median(getattr(s, attr) for s in results[key]))


def _paired(
    results: Results, a: tuple[str, int, str], b: tuple[str, int, str], f: Callable[..., float]
) -> float:
    """The median over rounds of f(a's sample, b's sample): the two ran back to back."""
    return statistics.median(f(x, y) for x, y in zip(results[a], results[b], strict=True))


def _compared(results: Results, a: tuple[str, int, str], b: tuple[str, int, str], attr: str) -> str:
    """a ÷ b (requests/s) or a − b (latency): of the medians, and the median of the
    rounds' pairs (the two ran back to back in each round)."""
    if attr == "rps":
        ratio = _median(results, a, attr) / _median(results, b, attr)
        return f"**{ratio:.3f}** (paired {_paired(results, a, b, lambda x, y: x.rps / y.rps):.3f}"
    added = _median(results, a, attr) - _median(results, b, attr)
    paired = _paired(results, a, b, lambda x, y: x.p50_ms - y.p50_ms)
    return f"**{added:.3f} ms** (paired {paired:.3f} ms"


def _issue_figures(
    results: Results, redis_calls: RedisCalls, args: argparse.Namespace
) -> list[str]:
    """Exactly the ratios the issues state their targets in; each as the ratio of the
    medians and as the median of the rounds' paired ratios."""
    lines = ["## Issue figures (same run, wrk, one worker)", ""]
    store = f"token (built-in store, {args.store:,} tenants) ÷ JWT multi-tenant throughput"
    figures = [
        ("#13", store, 50, "gateway-store", "gateway-mt", "rps", "≥ 0.95"),
        ("#13", "token ÷ JWT, both in built-in-store mode (the token check alone)", 50,
         "gateway-store", "gateway-store-jwt", "rps", "≥ 0.95 read within built-in-store mode"),
        ("#14", "budgets+limits on ÷ off, throughput", 50, "gateway-money", "gateway", "rps",
         "≥ 0.85"),
        ("#14", "budgets+limits added median latency", 1, "gateway-money", "gateway", "p50_ms",
         "≤ 0.15 ms"),
    ]  # fmt: skip
    for issue, what, conc, target, against, attr, goal in figures:
        for mode in ("json", "stream"):
            a, b = (mode, conc, target), (mode, conc, against)
            if a in results and b in results:
                lines.append(
                    f"- {issue} {mode}: {what} at c={conc}: "
                    + _compared(results, a, b, attr)
                    + f"; target {goal})"
                )
    for (mode, conc), rounds in sorted(redis_calls.items()):
        names = {name for calls in rounds for name in calls}
        median = {name: statistics.median(c.get(name, 0.0) for c in rounds) for name in names}
        lines.append(f"- #14 {mode} c={conc}: Redis per request: {redis_line(median)}")
    if "gateway-store" in {k[2] for k in results}:
        lines.append(
            f"- #13: {args.store:,} tenants created through the API in "
            f"{args.store_create_s:.1f} s ({args.store / args.store_create_s:,.0f}/s, "
            "20 at a time)"
        )
    return [*lines, ""]


def _throughput(results: Results, args: argparse.Namespace) -> list[str]:
    levels = sorted({k[1] for k in results})
    names = sorted({k[2] for k in results}, key=ORDER.index)
    lines = [
        f"Upstream: {args.kind}. `gateway`: `tenant-proxy serve` in static mode, 1 gunicorn "
        "worker; `gateway-mt`: the same in multi-tenant mode (JWT auth, config from L1; Redis "
        "and the mock Config API behind it); `gateway-money`: the static gateway with a budget "
        "and RPM/TPM limits it never reaches (one script call per request, Redis beside it); "
        "`gateway-store`: built-in-store mode (SQLite, no Redis) with a proxy token; "
        "`gateway-store-jwt`: the same store, a second gateway, called with a JWT; "
        f"`bare`: `bench/bare_relay.py`. {PINNED}",
        f"wrk -t1, {args.duration:g} s per point, {args.rounds} interleaved rounds (every other "
        "one in reverse order); medians shown.",
        "",
        "| mode | conc | target | req/s | ÷ bare | ÷ static gateway | p50 ms | p99 ms "
        "| added p50 ms (− direct) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("json", "stream"):
        for conc in levels:
            lines += [
                _row(results, mode, conc, name) for name in names if (mode, conc, name) in results
            ]
    lines += ["", "Every round, point by point (req/s):", ""]
    for key, samples in sorted(results.items()):
        rounds = ", ".join(f"{s.rps:.0f}" for s in samples)
        lines.append(f"- {key[0]} c{key[1]} {key[2]}: {rounds}")
    return lines


def _row(results: Results, mode: str, conc: int, name: str) -> str:
    key = (mode, conc, name)
    rps = _median(results, key, "rps")
    p50 = _median(results, key, "p50_ms")
    vs_bare = (
        ""
        if name in ("direct", "bare")
        else f"{rps / _median(results, (mode, conc, 'bare'), 'rps'):.2f}"
    )
    static = _median(results, (mode, conc, "gateway"), "rps")
    vs_static = f"{rps / static:.2f}" if name.startswith("gateway-") else ""
    direct = _median(results, (mode, conc, "direct"), "p50_ms")
    added = "" if name == "direct" else f"{p50 - direct:.3f}"
    errors = sum(s.errors for s in results[key])
    return (
        f"| {mode} | {conc} | {name} | {rps:,.0f} | {vs_bare} | {vs_static} | {p50:.3f} "
        f"| {_median(results, key, 'p99_ms'):.3f} | {added} | {errors} |"
    )


def _instructions(counts: Counts) -> list[str]:
    def n(mode: str, target: str) -> int | None:
        c = counts.get((mode, target))
        return None if c is None else c.instructions

    def cell(value: float | None, fmt: str = ",") -> str:
        return "" if value is None else format(value, fmt)

    def ratio(a: int | None, b: int | None) -> str:
        return "" if a is None or b is None else f"{a / b:.3f}"

    lines = [
        "",
        "## CPU instructions per request (callgrind, sequential)",
        "",
        "| mode | gateway | bare relay | gateway ÷ bare | gateway-base | gateway ÷ base "
        "| translated | translated ÷ gateway |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("json", "stream"):
        gw = n(mode, "gateway")
        lines.append(
            f"| {mode} | {cell(gw)} | {cell(n(mode, 'bare'))} | {ratio(gw, n(mode, 'bare'))} "
            f"| {cell(n(mode, 'gateway-base'))} | {ratio(gw, n(mode, 'gateway-base'))} "
            f"| {cell(n(mode, 'translated'))} | {ratio(n(mode, 'translated'), gw)} |"
        )
    lines += [
        "",
        "Modes: `gateway-store` (proxy token) against `gateway-mt` (JWT), #13; "
        "`gateway-money` (budget and RPM/TPM limits) against `gateway`, #14:",
        "",
        "| mode | gateway-mt | gateway-store | store ÷ mt | gateway | gateway-money "
        "| money − gateway | money ÷ gateway |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("json", "stream"):
        mt, store = n(mode, "gateway-mt"), n(mode, "gateway-store")
        gw, money = n(mode, "gateway"), n(mode, "gateway-money")
        extra = None if gw is None or money is None else money - gw
        lines.append(
            f"| {mode} | {cell(mt)} | {cell(store)} | {ratio(store, mt)} | {cell(gw)} "
            f"| {cell(money)} | {cell(extra, '+,')} | {ratio(money, gw)} |"
        )
    if any(target == "gateway-money@50" for _, target in counts):
        lines += [
            "",
            "Under 50 concurrent connections (exactly the counted requests, none left in "
            "flight): plain ÷ money is the throughput ratio on a saturated core (#14: ≥ 0.85):",
            "",
            "| mode | gateway | gateway-money | money − gateway | plain ÷ money |",
            "|---|---|---|---|---|",
        ]
        for mode in ("json", "stream"):
            gw, money = n(mode, "gateway@50"), n(mode, "gateway-money@50")
            extra = None if gw is None or money is None else money - gw
            lines.append(
                f"| {mode} | {cell(gw)} | {cell(money)} | {cell(extra, '+,')} "
                f"| {ratio(gw, money)} |"
            )
    lines += _store_concurrent(counts)
    lines += _redis_counted(counts)
    return lines


def _store_concurrent(counts: Counts) -> list[str]:
    """`gateway-store@50` (the usage ledger writes fuller batches than one at a time)
    and `gateway-mt@50`: #13's ratio at the concurrency its target names."""
    if not any(target in ("gateway-store@50", "gateway-mt@50") for _, target in counts):
        return []
    lines = ["", "Under 50 concurrent connections (#13: mt ÷ store ≥ 0.95):", ""]
    lines += ["| mode | store, sequential | store, c=50 | mt, c=50 | mt ÷ store, c=50 |"]
    lines += ["|---|---|---|---|---|"]
    for mode in ("json", "stream"):
        targets = ("gateway-store", "gateway-store@50", "gateway-mt@50")
        cells = [counts.get((mode, t)) for t in targets]
        store, mt = cells[1], cells[2]
        shown = [f"{c.instructions:,}" if c else "" for c in cells]
        quotient = f"{mt.instructions / store.instructions:.3f}" if store and mt else ""
        lines.append(f"| {mode} | " + " | ".join(shown) + f" | {quotient} |")
    return lines


def _redis_counted(counts: Counts) -> list[str]:
    rows: Sequence[tuple[tuple[str, str], Counted]] = [
        (key, c) for key, c in sorted(counts.items()) if c.redis or key[1] == "gateway-money"
    ]
    if not rows:
        return []
    lines = ["", "Redis per request at c=1 (INFO commandstats, counted requests only):", ""]
    for (mode, target), c in rows:
        lines.append(f"- {target} {mode}: {redis_line(c.redis)}")
    return lines


def redis_line(calls: dict[str, float]) -> str:
    """Script calls (each one round trip at most: a cycle's calls share one pipeline)
    and every command Redis ran, the scripts' own included."""
    if not calls:
        return "no command"
    script = calls.get("evalsha", 0.0) + calls.get("eval", 0.0)
    others = ", ".join(f"{n} {c:.3f}" for n, c in sorted(calls.items()) if n != "evalsha")
    return (
        f"**{script:.3f} script calls** (EVALSHA); {sum(calls.values()):.2f} commands run "
        f"in all, the script's included ({others})"
    )


def _med(results: Results, mode: str, conc: int, name: str, attr: str) -> float | None:
    samples = results.get((mode, conc, name))
    return float(statistics.median(getattr(s, attr) for s in samples)) if samples else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def _compare_cells(results: Results, counts: Counts | None, mode: str) -> list[str]:
    """One column of the targets table: the cells for `mode`, row by row."""

    def med(conc: int, name: str, attr: str) -> float | None:
        return _med(results, mode, conc, name, attr)

    direct = med(1, "direct", "p50_ms")
    added = {
        name: (p50 - direct if (p50 := med(1, name, "p50_ms")) is not None and direct else None)
        for name in ("gateway", "bare")
    }
    instr = "n/a"
    if counts and (mode, "gateway") in counts and (mode, "bare") in counts:
        gw_n, bare_n = counts[mode, "gateway"].instructions, counts[mode, "bare"].instructions
        instr = f"{gw_n / bare_n:.3f} ({gw_n:,} / {bare_n:,})"
    return [
        _ratio(med(50, "gateway", "rps"), med(50, "bare", "rps")),
        f"{_ratio(added['gateway'], added['bare'])} "
        f"({added['gateway'] or 0:.3f} / {added['bare'] or 0:.3f})",
        _ratio(med(50, "gateway-mt", "rps"), med(50, "gateway", "rps")),
        _ratio(med(1, "gateway", "p99_ms"), med(1, "gateway", "p50_ms")),
        instr,
    ]


_COMPARE_ROWS = (
    ("static ÷ bare req/s, c=50", "≥ 1.00"),
    ("added p50 at c=1, gateway ÷ bare (ms over direct)", "≤ 1.00"),
    ("multi-tenant (JWT) ÷ static req/s, c=50", "≥ 0.97"),
    ("gateway p99 ÷ p50 at c=1", "≤ 3"),
    ("callgrind instructions/request, gateway ÷ bare", "< 1.00"),
)


def render_compare(results: Results, counts: Counts | None, rss: Sequence[float]) -> list[str]:
    """Issue #18's ratios in one table (medians of the rounds)."""
    columns = [_compare_cells(results, counts, mode) for mode in ("json", "stream")]
    lines = ["", "## Targets (issue #18)", "", "| ratio | json | stream | target |"]
    lines.append("|---|---|---|---|")
    for i, (label, target) in enumerate(_COMPARE_ROWS):
        lines.append(f"| {label} | {columns[0][i]} | {columns[1][i]} | {target} |")
    start, end = rss[0], rss[-1]
    lines.append(
        f"| gateway worker RSS MiB, after warm-up → end | {start:.1f} → {end:.1f} "
        f"({(end - start) / start * 100 if start else 0:+.1f} %) | | < 80, ± 5 % |"
    )
    return lines
