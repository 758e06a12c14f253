"""Reading Locust's CSVs and writing the benchmark report and plots."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

PERCENTILES = ("50%", "90%", "99%", "99.9%")


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
    """Final per-metric stats from Locust's `--json-file` output.

    (Locust's `_stats.csv` is rewritten once a second while it runs and not at the
    end, so it misses the last second; the JSON is written after the last request.)
    """
    path = Path(f"{prefix}.json")
    if not path.exists():
        return {}
    rows = {}
    for entry in json.loads(path.read_text()):
        times = {int(k): v for k, v in entry["response_times"].items()}
        timed = entry["num_requests"] - entry["num_none_requests"]
        active = (entry["last_request_timestamp"] or entry["start_time"]) - entry["start_time"]
        rows[entry["name"]] = Row(
            kind=entry["method"],
            name=entry["name"],
            count=entry["num_requests"],
            failures=entry["num_failures"],
            rps=entry["num_requests"] / active if active > 0 else 0.0,
            percentiles={
                p: _percentile(times, timed, float(p.rstrip("%")) / 100) for p in PERCENTILES
            },
        )
    return rows


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
            if rec["Name"] not in ("chat json", "chat stream", "proxy overhead (us)"):
                continue
            scale = 1000.0 if rec["Name"].endswith("(us)") else 1.0
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
        label = name.removesuffix(" (us)")
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
