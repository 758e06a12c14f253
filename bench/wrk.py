"""wrk, run and read: requests/s, median and p99 latency, errors, requests made."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import processes as ps


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def wrk(
    url: str,
    body: str,
    concurrency: int,
    duration: float,
    cpus: str | None,
    headers: dict[str, str] | None = None,
) -> Sample:
    script = _lua(body, headers or {})
    path = Path("/tmp") / f"tp-bench-{abs(hash(script))}.lua"
    path.write_text(script)
    cmd = ps.pinned(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--latency", "-s", str(path), url],
        cpus,
    )
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Sample(rps, _latency(out, "50%"), _latency(out, "99%"), errors, requests)


def _lua(body: str, headers: dict[str, str]) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ['wrk.method = "POST"', f"wrk.body = {quoted(body)}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{quoted(name)}] = {quoted(value)}")
    return "\n".join(lines) + "\n"


def _latency(out: str, pct: str) -> float:
    found = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found is None:
        return float("nan")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
