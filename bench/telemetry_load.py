"""Telemetry under load: delivery and the throughput it costs.

Two gateways (one gunicorn worker each, pinned to CPU 0) serve the same upstream,
one with TELEMETRY_WEBHOOK_URL set and one without; wrk drives them in turn
(interleaved rounds of sustained load, 60 s each by default) while a receiver on
CPU 1 counts distinct event ids. After the
run each gateway gets SIGTERM (so the telemetry one flushes), then the report gives
the share of request_processed events delivered, the gateway's counters and their
invariant (produced = delivered + dropped + queued + spilled), and the throughput
with telemetry on relative to off.

    python -m bench.telemetry_load [--duration 60] [--rounds 3] [--batch 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import time
import urllib.request
from pathlib import Path

from bench import processes as ps
from bench.targets import JSON_BODY, start_gateway, start_upstream
from bench.wrk import wrk

RESULTS = Path(__file__).with_name("results")


def _stats(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "/stats", timeout=5) as resp:
        return json.loads(resp.read())


def _counters(log: Path) -> dict[str, int] | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"telemetry stopped"' in line:
            return json.loads(line).get("counters")
    return None


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100, help="TELEMETRY_BATCH_MAX")
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.telemetry_load needs wrk: apt-get install -y wrk")
    out = args.out or RESULTS / ("telemetry-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    server_cpu, load_cpu = ("0", "1") if ps.cpu_count() >= 2 else (None, None)
    rps: dict[str, list[float]] = {"off": [], "on": []}
    with ps.Processes(out / "logs") as procs:
        kind, json_url, sse_url = start_upstream(args.upstream, procs, out, load_cpu)
        receiver_port = ps.free_port()
        receiver = f"http://127.0.0.1:{receiver_port}"
        hook = procs.start(
            "receiver",
            [ps.PYTHON, "-m", "bench.webhook_receiver", "--port", str(receiver_port)],
            cpus=load_cpu,
        )
        ps.wait_http(receiver + "/stats", hook)
        telemetry = {
            "TELEMETRY_WEBHOOK_URL": receiver + "/events",
            "TELEMETRY_BATCH_MAX": str(args.batch),
        }
        gateways = {
            name: start_gateway(
                procs, out, json_url, sse_url, server_cpu, name=f"gateway-{name}", env=env
            )
            for name, env in (("off", {}), ("on", telemetry))
        }
        for _ in range(args.rounds):
            for name, url in gateways.items():
                sample = wrk(
                    url + "/v1/chat/completions",
                    JSON_BODY,
                    args.concurrency,
                    args.duration,
                    load_cpu,
                )
                rps[name].append(sample.rps)
        for name in gateways:  # SIGTERM: the telemetry gateway flushes its queue
            ps.stop(procs.named(f"gateway-{name}"))
        time.sleep(0.5)
        received = _stats(receiver)
    counters = _counters(out / "logs" / "gateway-on.log")
    text = render(args, kind, rps, received, counters)
    (out / "report.md").write_text(text)
    print(text)
    print(f"written: {out / 'report.md'}")
    return out


def render(
    args: argparse.Namespace,
    kind: str,
    rps: dict[str, list[float]],
    received: dict[str, object],
    counters: dict[str, int] | None,
) -> str:
    off, on = statistics.median(rps["off"]), statistics.median(rps["on"])
    by_type = received.get("by_type", {})
    assert isinstance(by_type, dict)
    delivered_requests = int(by_type.get("request_processed", 0))
    lines = [
        f"# Telemetry under load — {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        f"Upstream: {kind}. Two gateways (1 worker each, CPU 0): telemetry off, and on with "
        f"TELEMETRY_BATCH_MAX={args.batch}. wrk -c{args.concurrency}, {args.rounds} rounds of "
        f"{args.duration:g} s each, alternating; receiver and wrk on CPU 1.",
        "",
        "| | req/s (median) | rounds |",
        "|---|---|---|",
        f"| telemetry off | {off:,.0f} | {', '.join(f'{r:,.0f}' for r in rps['off'])} |",
        f"| telemetry on | {on:,.0f} | {', '.join(f'{r:,.0f}' for r in rps['on'])} |",
        "",
        f"Throughput with telemetry on: **{on / off:.3f}** of off.",
        "",
    ]
    if counters:
        produced = counters.get("produced", 0)
        accounted = (
            counters.get("delivered", 0)
            + counters.get("dropped", 0)
            + counters.get("spilled", 0)
            - counters.get("replayed", 0)
        )
        verdict = "holds" if produced == accounted else "DOES NOT HOLD"
        requests = produced - 2  # server_start and server_stop
        share = delivered_requests / requests if requests else 0.0
        lines += [
            f"request_processed events delivered (distinct event ids at the receiver): "
            f"{delivered_requests:,} of {requests:,} = **{share:.4%}**.",
            "",
            "Gateway counters after SIGTERM: "
            + ", ".join(f"{k} {v:,}" for k, v in counters.items())
            + ".",
            f"Invariant produced = delivered + dropped + spilled − replayed (+ 0 queued after the "
            f"flush): {produced:,} = {accounted:,} → {verdict}.",
            "",
        ]
    lines.append(f"Receiver: {json.dumps(received)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
