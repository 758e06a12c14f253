"""Reading Locust's CSVs and writing the benchmark report and plots."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PERCENTILES = ("50%", "90%", "99%", "99.9%")
REPLICA_MARK = " @"  # as bench/locustfile.py names a metric per replica


@dataclass
class Row:
    kind: str
    name: str
    count: int
    failures: int
    rps: float
    percentiles: dict[str, float]

    def cells(self) -> list[str]:
        return [
            f"{self.count:,}",
            f"{self.failures:,}",
            f"{self.rps:,.1f}",
            *(_ms(self.percentiles.get(p)) for p in PERCENTILES),
        ]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def read_stats(prefix: Path) -> dict[str, Row]:
    """Final per-metric stats from Locust's `--json-file` output, the replicas summed.

    (Locust's `_stats.csv` is rewritten once a second while it runs and not at the
    end, so it misses the last second; the JSON is written after the last request.)
    With several replicas (BENCH_HOSTS) each metric comes once per replica ("chat json
    @2"): their counts and failures add up, their response-time histograms (Locust
    keeps every rounded time with its count) merge, so the percentiles are those of
    all the requests together, and req/s is the total count over the time the
    replicas were busy together (first request of any to the last of any).
    """
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for entry in _entries(prefix):
        by_metric.setdefault(entry["name"].split(REPLICA_MARK)[0], []).append(entry)
    return {name: _row(name, entries) for name, entries in by_metric.items()}


def read_replica_stats(prefix: Path) -> dict[str, dict[str, Row]]:
    """Per replica ("1", "2", ...): its own rows; empty with one base URL."""
    replicas: dict[str, dict[str, Row]] = {}
    for entry in _entries(prefix):
        name, mark, replica = entry["name"].partition(REPLICA_MARK)
        if mark:
            replicas.setdefault(replica, {})[name] = _row(name, [entry])
    return dict(sorted(replicas.items(), key=lambda kv: int(kv[0])))


def in_ms(rows: dict[str, Row], name: str = "proxy overhead (us)") -> dict[str, Row]:
    """`rows` with the overhead metric (Locust keeps it in microseconds) in ms, under
    the name the tables use ("proxy overhead")."""
    row = rows.get(name)
    if row is None:
        return rows
    ms = {p: v / 1000 for p, v in row.percentiles.items()}
    converted = Row(row.kind, row.name, row.count, row.failures, row.rps, ms)
    return {**{k: v for k, v in rows.items() if k != name}, "proxy overhead": converted}


def _entries(prefix: Path) -> list[dict[str, Any]]:
    path = Path(f"{prefix}.json")
    return list(json.loads(path.read_text())) if path.exists() else []


def _row(name: str, entries: list[dict[str, Any]]) -> Row:
    times: dict[int, int] = {}
    for entry in entries:
        for k, v in entry["response_times"].items():
            times[int(k)] = times.get(int(k), 0) + v
    count = sum(e["num_requests"] for e in entries)
    timed = count - sum(e["num_none_requests"] for e in entries)
    start = min(e["start_time"] for e in entries)
    last = max((e["last_request_timestamp"] or e["start_time"]) for e in entries)
    return Row(
        kind=entries[0]["method"],
        name=name,
        count=count,
        failures=sum(e["num_failures"] for e in entries),
        rps=count / (last - start) if last > start else 0.0,
        percentiles={p: _percentile(times, timed, float(p.rstrip("%")) / 100) for p in PERCENTILES},
    )


def _percentile(times: dict[int, int], count: int, fraction: float) -> float:
    """Locust's own rule (calculate_response_time_percentile), over its rounded times."""
    target = int(count * fraction)
    seen = 0
    for value in sorted(times, reverse=True):
        seen += times[value]
        if count - seen <= target:
            return float(value)
    return 0.0


def samples_row(samples_file: Path, duration_s: float) -> Row | None:
    """The overhead row from the raw samples: exact percentiles, in ms."""
    if not samples_file.exists():
        return None
    samples = sorted(float(x) for x in samples_file.read_text().split())
    if not samples:
        return None

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))]

    return Row(
        "OVERHEAD",
        "proxy overhead",
        len(samples),
        0,
        len(samples) / duration_s,
        {label: pct(float(label.rstrip("%"))) for label in PERCENTILES},
    )


def read_failures(prefix: Path, limit: int = 10) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return [
            f"{r['Occurrences']}× {r['Method']} {r['Name']}: {r['Error']}"
            for r in csv.DictReader(f)
        ][:limit]


def metric_total(text: str, name: str, labels: str = "") -> float:
    """Sum of a Prometheus counter's samples whose labels contain `labels`."""
    total = 0.0
    for match in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def table(title: str, rows: dict[str, Row], names: list[str]) -> list[str]:
    lines = [
        f"**{title}**",
        "",
        "| metric | requests | failures | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        row = rows.get(name)
        if row is not None:
            lines.append(f"| {name} | " + " | ".join(row.cells()) + " |")
    return [*lines, ""]


def plot_history(prefix: Path, png: Path) -> bool:
    """Latency percentiles over time (end-to-end and overhead)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return False
    series: dict[str, dict[str, list[float]]] = {}
    with path.open() as f:
        for rec in csv.DictReader(f):
            base = rec["Name"].partition(REPLICA_MARK)[0]
            if base not in ("chat json", "chat stream", "proxy overhead (us)"):
                continue
            scale = 1000.0 if base.endswith("(us)") else 1.0
            s = series.setdefault(rec["Name"], {"t": [], "50%": [], "99%": []})
            try:
                values = float(rec["50%"]) / scale, float(rec["99%"]) / scale
            except ValueError:
                continue
            s["t"].append(float(rec["Timestamp"]))
            s["50%"].append(values[0])
            s["99%"].append(values[1])
    if not series:
        return False
    t0 = min(s["t"][0] for s in series.values() if s["t"])
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for name, s in series.items():
        ax = axes[1] if name.startswith("proxy overhead") else axes[0]
        t = [x - t0 for x in s["t"]]
        label = name.replace(" (us)", "")
        ax.plot(t, s["50%"], label=f"{label} p50")
        ax.plot(t, s["99%"], label=f"{label} p99", linestyle="--")
    axes[0].set_ylabel("end-to-end ms")
    axes[1].set_ylabel("proxy overhead ms")
    axes[1].set_xlabel("seconds")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Latency percentiles over time (Locust's current 10 s window)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True


def plot_overhead(samples_file: Path, png: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    if not samples_file.exists():
        return False
    samples = [float(x) for x in samples_file.read_text().split()]
    if not samples:
        return False
    samples.sort()
    cut = samples[min(len(samples) - 1, int(len(samples) * 0.999))]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.hist([s for s in samples if s <= cut], bins=100)
    ax.set_xlabel("proxy overhead per request, ms (up to p99.9)")
    ax.set_ylabel("requests")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True
