"""The raw relay cost: wrk against the upstream, a bare aiohttp relay and the gateway.

All in one run, interleaved round by round (so machine noise hits all three alike):
the gateway (one gunicorn worker) and the bare relay pinned to CPU 0, the upstream
and wrk on CPU 1. Reports requests/s and median latency at each concurrency for JSON
and streaming chat, the gateway's throughput relative to the bare relay, and the
median latency it adds over going direct. `--instructions` adds callgrind counts of
CPU instructions per request (deterministic, immune to noisy neighbours).

    python -m bench.relay [--duration 10] [--rounds 3] [--concurrency 1,10,50]
                          [--upstream auto|nginx|python] [--instructions]
                          [--baseline DIR] [--store N] [--compare]

`--compare` measures c=1 and c=50 with instructions counted and ends the report with
one table of issue #18's ratios: static ÷ bare throughput at c=50, the median latency
the gateway adds at c=1 against the bare relay's, multi-tenant (JWT) ÷ static, p99 ÷ p50
at c=1, the gateway worker's RSS after warm-up and at the end, and callgrind
instructions per request, gateway ÷ bare.

`--store N` adds `gateway-store`: the gateway in built-in-store mode (SQLite, no Redis,
one worker) with N tenants created through the management API (the time that takes is
reported), called with a minted proxy token; its throughput is reported against
`gateway-mt` (JWTs, Config API) measured in the same rounds.

`--baseline DIR` adds `gateway-base`: the same static gateway run from another
source tree (e.g. `git worktree add /tmp/base HEAD~5`), measured in the same
interleaved rounds and, with `--instructions`, counted too: before/after figures
from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import statistics
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import processes as ps
from proxy.body import RequestBody
from proxy.providers.mock import MockProvider

RESULTS = Path(__file__).with_name("results")
PINNED = "Gateway and relay pinned to CPU 0, upstream and wrk to CPU 1."
JSON_BODY = (
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
)
STREAM_BODY = (
    '{"model":"gpt-stream","stream":true,'
    '"messages":[{"role":"user","content":"Hello, how are you today?"}]}'
)
# The same requests for routes whose upstream speaks Anthropic Messages: translated
# both ways by the gateway (SPEC 13); counted with --instructions beside pass-through.
TRANSLATED_JSON_BODY = JSON_BODY.replace("gpt-4o-mini", "claude-json")
TRANSLATED_STREAM_BODY = STREAM_BODY.replace("gpt-stream", "claude-stream")


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


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
    return Sample(rps, _latency(out, "50%"), _latency(out, "99%"), errors)


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


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {dir}/tmp;
  proxy_temp_path {dir}/tmp;
  fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp;
  scgi_temp_path {dir}/tmp;
  server {{
    listen 127.0.0.1:{json_port};
    location / {{ default_type application/json; return 200 '{json}'; }}
  }}
  server {{
    listen 127.0.0.1:{sse_port};
    location / {{ default_type text/event-stream; return 200 '{sse}'; }}
  }}
}}
"""


def _canned_messages() -> tuple[str, str]:
    """Anthropic Messages answers (JSON, SSE) as an Anthropic upstream writes them."""
    provider = MockProvider(clock=lambda: 1_700_000_000.0)
    json_reply = provider.reply(
        "/v1/messages", RequestBody(JSON_BODY.encode(), {}, "m", False), "claude-json"
    )
    sse_reply = provider.reply(
        "/v1/messages", RequestBody(STREAM_BODY.encode(), {}, "m", True), "claude-stream"
    )
    return json_reply.body.decode(), b"".join(sse_reply.events).decode().replace("\n", "\\n")


def start_messages_upstream(
    kind: str, procs: ps.Processes, out: Path, cpus: str | None, python_url: str
) -> tuple[str, str]:
    """An upstream answering Anthropic Messages: (JSON url, SSE url). The Python mock
    upstream answers by path, so it serves these too."""
    if kind != "nginx":
        return python_url, python_url
    out = out / "messages"
    (out / "tmp").mkdir(parents=True, exist_ok=True)
    json_port, sse_port = ps.free_port(), ps.free_port()
    json_body, sse_body = _canned_messages()
    conf = out / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=out, json_port=json_port, sse_port=sse_port, json=json_body, sse=sse_body
        )
    )
    proc = procs.start("nginx-messages", ["nginx", "-c", str(conf)], cpus=cpus)
    urls = f"http://127.0.0.1:{json_port}", f"http://127.0.0.1:{sse_port}"
    for url in urls:
        ps.wait_http(url + "/", proc)
    return urls


def _canned() -> tuple[str, str]:
    provider = MockProvider(clock=lambda: 1_700_000_000.0)
    doc = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}}
    json_reply = provider.reply(
        "/v1/chat/completions", RequestBody(JSON_BODY.encode(), {}, "m", False), "gpt-4o-mini"
    )
    sse_reply = provider.reply(
        "/v1/chat/completions", RequestBody(STREAM_BODY.encode(), doc, "m", True), "gpt-4o-mini"
    )
    return json_reply.body.decode(), b"".join(sse_reply.events).decode().replace("\n", "\\n")


def start_upstream(
    kind: str, procs: ps.Processes, out: Path, cpus: str | None
) -> tuple[str, str, str]:
    """Start the upstream; returns (kind, JSON url, SSE url)."""
    if kind == "auto":
        kind = "nginx" if shutil.which("nginx") else "python"
    if kind == "nginx":
        json_port, sse_port = ps.free_port(), ps.free_port()
        (out / "tmp").mkdir(parents=True, exist_ok=True)
        json_body, sse_body = _canned()
        conf = out / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                dir=out, json_port=json_port, sse_port=sse_port, json=json_body, sse=sse_body
            )
        )
        proc = procs.start("nginx", ["nginx", "-c", str(conf)], cpus=cpus)
        urls = f"http://127.0.0.1:{json_port}", f"http://127.0.0.1:{sse_port}"
        for url in urls:
            ps.wait_http(url + "/", proc)
        return kind, *urls
    port = ps.free_port()
    proc = procs.start(
        "mock-upstream", [ps.PYTHON, "-m", "bench.mock_upstream", "--port", str(port)], cpus=cpus
    )
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/stats", proc)
    return kind, url, url


# gateway-money: a budget and RPM/TPM limits that the run never reaches, so every
# request pays admission (one script call) and settlement, and none is refused.
MONEY = {"budget": {"monthly_usd": 1e9}, "limits": {"rpm": 10**9, "tpm": 10**12}}


def gateway_config(
    path: Path,
    json_url: str,
    sse_url: str,
    extra: dict[str, Any] | None = None,
    messages: tuple[str, str] | None = None,
) -> Path:
    """`extra`: top-level fields (budgets, limits); `messages`: Anthropic upstreams
    (JSON, SSE) for the translated routes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    translated = [
        {
            "model_name": name,
            "provider": "anthropic",
            "api_base": url,
            "api_key": "sk-bench-relay-0001",
        }
        for name, url in zip(("claude-json", "claude-stream"), messages or (), strict=False)
    ]
    path.write_text(
        yaml.safe_dump(
            {
                **(extra or {}),
                "models": translated
                + [
                    {
                        "model_name": "gpt-4o-mini",
                        "provider": "openai",
                        "api_base": json_url,
                        "api_key": "sk-bench-relay-0001",
                    },
                    {
                        "model_name": "gpt-stream",
                        "provider": "openai",
                        "api_base": sse_url,
                        "api_key": "sk-bench-relay-0001",
                    },
                ],
            }
        )
    )
    return path


def start_gateway(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    *,
    name: str = "gateway",
    env: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """One gunicorn worker in static mode; `env` adds settings (e.g. telemetry, or
    PYTHONPATH for a baseline source tree), `extra` adds to its config."""
    config = gateway_config(out / f"{name}.yaml", json_url, sse_url, extra)
    port = ps.free_port()
    environ = {
        "PROXY_CONFIG": str(config),
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(out / f"metrics-{name}"),
        **(env or {}),
    }
    proc = procs.start(name, [ps.TENANT_PROXY, "serve"], env=environ, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/healthz", proc)
    return url


MT_TENANT = "t00001"
MT_SECRET = "bench-secret-not-for-production-0123456789"


def start_gateway_mt(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    load_cpus: str | None,
) -> tuple[str, dict[str, str]] | None:
    """The gateway in multi-tenant mode (private Redis, mock Config API); None without Redis."""
    if shutil.which("redis-server") is None:
        return None
    import base64
    import os

    import jwt

    redis_port, api_port, port = ps.free_port(), ps.free_port(), ps.free_port()
    ps.start_redis(procs, redis_port, load_cpus)
    config_api = ps.start_config_api(procs, api_port, 100, json_url, sse_url, load_cpus)
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CONFIG_API_URL": config_api,
        "AUTH_JWT_SECRET": MT_SECRET,
        "PROXY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(out / "metrics-mt"),
    }
    proc = procs.start("gateway-mt", [ps.TENANT_PROXY, "serve"], env=env, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/healthz", proc)
    token = jwt.encode(
        {"sub": MT_TENANT, "exp": int(time.time()) + 86400}, MT_SECRET, algorithm="HS256"
    )
    return url + f"/users/{MT_TENANT}", {"Authorization": "Bearer " + token}


def start_gateway_money(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    load_cpus: str | None,
) -> str | None:
    """The static gateway with a budget and RPM/TPM limits (MONEY) in a private Redis:
    compare with `gateway` for what budgets and limits cost. None without redis-server."""
    if shutil.which("redis-server") is None:
        return None
    redis_port = ps.free_port()
    ps.start_redis(procs, redis_port, load_cpus)
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    return start_gateway(
        procs, out, json_url, sse_url, cpus, name="gateway-money", env=env, extra=MONEY
    )


STORE_ADMIN_KEY = "bench-admin-key-not-for-production"


def start_gateway_store(
    procs: ps.Processes, out: Path, json_url: str, sse_url: str, cpus: str | None, tenants: int
) -> tuple[tuple[str, dict[str, str]], float]:
    """The gateway in built-in-store mode with `tenants` tenants created through the
    API; ((tenant URL, token headers), seconds the creates took)."""
    import base64
    import os

    port = ps.free_port()
    database = out / "tenants.db"
    database.unlink(missing_ok=True)
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "PROXY_ADMIN_KEY": STORE_ADMIN_KEY,
        "PROXY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(out / "metrics-store"),
    }
    proc = procs.start("gateway-store", [ps.TENANT_PROXY, "serve"], env=env, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/healthz", proc)
    seconds, token = asyncio.run(_fill_store(url, tenants, json_url, sse_url))
    return (url + f"/users/{MT_TENANT}", {"Authorization": "Bearer " + token}), seconds


async def _fill_store(url: str, tenants: int, json_url: str, sse_url: str) -> tuple[float, str]:
    """Create t00001..tNNNNN through the API (20 at a time); mint a token for t00001."""
    import aiohttp

    headers = {"Authorization": "Bearer " + STORE_ADMIN_KEY}
    models = [
        {
            "model_name": name,
            "provider": "openai",
            "api_base": base,
            "api_key": "sk-bench-relay-0001",
        }
        for name, base in (("gpt-4o-mini", json_url), ("gpt-stream", sse_url))
    ]
    ids = iter(f"t{i:05d}" for i in range(1, tenants + 1))
    async with aiohttp.ClientSession(url, headers=headers) as session:

        async def creator() -> None:
            for tenant_id in ids:
                body = {"tenant_id": tenant_id, "models": models}
                async with session.post("/admin/tenants", json=body) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create {tenant_id}: {resp.status} {await resp.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(creator() for _ in range(20)))
        seconds = time.perf_counter() - started
        async with session.post(
            f"/admin/tenants/{MT_TENANT}/tokens", json={"ttl_s": 86400}
        ) as resp:
            token = (await resp.json())["token"]
    return seconds, token


def start_bare(procs: ps.Processes, name: str, upstream: str, cpus: str | None) -> str:
    port = ps.free_port()
    proc = procs.start(
        name,
        [ps.PYTHON, "-m", "bench.bare_relay", "--port", str(port), "--upstream", upstream],
        cpus=cpus,
    )
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/healthz", proc)
    return url


def instructions_per_request(
    name: str, cmd: list[str], env: dict[str, str], port: int, out: Path, body: str, n: int = 2000
) -> int:
    """CPU instructions the server spends per sequential request (valgrind callgrind)."""
    import http.client
    import os
    import signal

    prefix = out / f"callgrind.{name}"
    with open(out / f"callgrind-{name}.log", "wb") as log:
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={prefix}.%p",
                *cmd,
            ],
            env={**os.environ, **env, "PYTHONHASHSEED": "0"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        ps.wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=180)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def send(count: int) -> None:
            for _ in range(count):
                conn.request(
                    "POST",
                    "/v1/chat/completions",
                    body=body.encode(),
                    headers={"Content-Type": "application/json"},
                )
                conn.getresponse().read()

        send(300)  # warm caches, pools and memos
        subprocess.run(
            ["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=True
        )
        send(n)
        subprocess.run(
            ["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True, check=True
        )
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    total = 0
    for dump in out.glob(f"callgrind.{name}.*"):
        # `totals:` is the count; some valgrind builds write `summary: 0` before it.
        counts = [
            int(line.split()[1])
            for line in dump.read_text(errors="replace").splitlines()
            if line.startswith(("summary:", "totals:"))
        ]
        total += max(counts, default=0)
    if total == 0:
        raise RuntimeError(f"callgrind counted nothing for {name}: see {out}/callgrind-{name}.log")
    return total // n


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with callgrind"
    )
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
    args = parser.parse_args(argv)
    if args.compare:
        args.concurrency, args.instructions = "1,50", True
    base_env = _baseline_env(args.baseline)
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench.relay needs wrk: apt-get install -y wrk (and nginx-light for the upstream)"
        )
    out = args.out or RESULTS / ("relay-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    two_cpus = ps.cpu_count() >= 2
    server_cpu, load_cpu = ("0", "1") if two_cpus else (None, None)
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[tuple[str, int, str], list[Sample]] = {}
    with ps.Processes(out / "logs") as procs:
        kind, json_url, sse_url = start_upstream(args.upstream, procs, out, load_cpu)
        gateway = start_gateway(procs, out, json_url, sse_url, server_cpu)
        base = (
            start_gateway(
                procs, out, json_url, sse_url, server_cpu, name="gateway-base", env=base_env
            )
            if base_env
            else None
        )
        mt = start_gateway_mt(procs, out, json_url, sse_url, server_cpu, load_cpu)
        money = start_gateway_money(procs, out, json_url, sse_url, server_cpu, load_cpu)
        store = None
        if args.store:
            store, args.store_create_s = start_gateway_store(
                procs, out, json_url, sse_url, server_cpu, args.store
            )
        bare_json = start_bare(procs, "bare-json", json_url, server_cpu)
        bare_sse = (
            bare_json if sse_url == json_url else start_bare(procs, "bare-sse", sse_url, server_cpu)
        )
        targets: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
            "json": {"direct": (json_url, {}), "bare": (bare_json, {}), "gateway": (gateway, {})},
            "stream": {"direct": (sse_url, {}), "bare": (bare_sse, {}), "gateway": (gateway, {})},
        }
        for mode in targets:
            if base is not None:
                targets[mode]["gateway-base"] = (base, {})
            if mt is not None:
                targets[mode]["gateway-mt"] = mt
            if money is not None:
                targets[mode]["gateway-money"] = (money, {})
            if store is not None:
                targets[mode]["gateway-store"] = store
        bodies = {"json": JSON_BODY, "stream": STREAM_BODY}
        for mode, urls in targets.items():  # warm-up: pools, memos, the tenant's config
            for url, headers in urls.values():
                wrk(url + "/v1/chat/completions", bodies[mode], 10, 2, load_cpu, headers)
        args.rss = [worker_rss_mib(procs.named("gateway").pid)]
        for _ in range(args.rounds):
            for mode, urls in targets.items():
                for conc in levels:
                    for name, (url, headers) in urls.items():
                        sample = wrk(
                            url + "/v1/chat/completions",
                            bodies[mode],
                            conc,
                            args.duration,
                            load_cpu,
                            headers,
                        )
                        results.setdefault((mode, conc, name), []).append(sample)
        args.rss.append(worker_rss_mib(procs.named("gateway").pid))
    report = render(results, levels, kind, two_cpus, args, None)
    (out / "report.md").write_text(report)  # kept even if the callgrind phase fails
    if args.instructions:
        instructions = _count_instructions(
            out, kind, args.upstream, base_env, translated=not args.compare
        )
        report = render(results, levels, kind, two_cpus, args, instructions)
        (out / "report.md").write_text(report)
    print(report)
    print(f"written: {out / 'report.md'}")
    return out


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


Results = dict[tuple[str, int, str], list[Sample]]


def _med(results: Results, mode: str, conc: int, name: str, attr: str) -> float | None:
    samples = results.get((mode, conc, name))
    return float(statistics.median(getattr(s, attr) for s in samples)) if samples else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def _compare_cells(
    results: Results, instructions: dict[tuple[str, str], int] | None, mode: str
) -> list[str]:
    """One column of the targets table: the cells for `mode`, row by row."""

    def med(conc: int, name: str, attr: str) -> float | None:
        return _med(results, mode, conc, name, attr)

    direct = med(1, "direct", "p50_ms")
    added = {
        name: (p50 - direct if (p50 := med(1, name, "p50_ms")) is not None and direct else None)
        for name in ("gateway", "bare")
    }
    instr = "n/a"
    if instructions:
        gw_n, bare_n = instructions[mode, "gateway"], instructions[mode, "bare"]
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


def render_compare(
    results: Results, instructions: dict[tuple[str, str], int] | None, rss: list[float]
) -> list[str]:
    """Issue #18's ratios in one table (medians of the rounds)."""
    columns = [_compare_cells(results, instructions, mode) for mode in ("json", "stream")]
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


def _baseline_env(tree: Path | None) -> dict[str, str]:
    """The environment that runs the gateway from `tree` instead of this checkout."""
    if tree is None:
        return {}
    if not (tree / "proxy" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {tree}: no proxy/ package there")
    return {"PYTHONPATH": str(tree.resolve())}


def _count_instructions(
    out: Path,
    kind: str,
    upstream_choice: str,
    base_env: dict[str, str],
    *,
    translated: bool = True,
) -> dict[tuple[str, str], int]:
    """Instructions per request: {(mode, target): count} for JSON and streaming chat,
    passed through and (`translated`) translated (an OpenAI client on an Anthropic route)."""
    counts: dict[tuple[str, str], int] = {}
    with ps.Processes(out / "logs-callgrind") as procs:
        work = out / "callgrind-upstream"
        cpus = "1" if ps.cpu_count() >= 2 else None
        kind, json_url, sse_url = start_upstream(upstream_choice, procs, work, cpus)
        messages = start_messages_upstream(kind, procs, work, cpus, json_url)
        config = gateway_config(work / "gateway.yaml", json_url, sse_url, messages=messages)
        for mode, body, upstream in (
            ("json", JSON_BODY, json_url),
            ("stream", STREAM_BODY, sse_url),
        ):
            gw_port, bare_port = ps.free_port(), ps.free_port()
            gw_env = {
                "PROXY_CONFIG": str(config),
                "PROXY_HOST": "127.0.0.1",
                "PROXY_PORT": str(gw_port),
            }
            counts[mode, "gateway"] = instructions_per_request(
                f"gateway-{mode}", [ps.TENANT_PROXY, "serve", "--dev"], gw_env, gw_port, out, body
            )
            if base_env:
                base_port = ps.free_port()
                counts[mode, "gateway-base"] = instructions_per_request(
                    f"gateway-base-{mode}",
                    [ps.TENANT_PROXY, "serve", "--dev"],
                    {**gw_env, **base_env, "PROXY_PORT": str(base_port)},
                    base_port,
                    out,
                    body,
                )
            bare_cmd = [ps.PYTHON, "-m", "bench.bare_relay", "--port", str(bare_port)]
            counts[mode, "bare"] = instructions_per_request(
                f"bare-{mode}", [*bare_cmd, "--upstream", upstream], {}, bare_port, out, body
            )
        if translated:
            counts |= _count_translated(out, config)
    return counts


def _count_translated(out: Path, config: Path) -> dict[tuple[str, str], int]:
    """Instructions per request of an OpenAI client on an Anthropic route."""
    counts = {}
    for mode, body in (("json", TRANSLATED_JSON_BODY), ("stream", TRANSLATED_STREAM_BODY)):
        port = ps.free_port()
        env = {"PROXY_CONFIG": str(config), "PROXY_HOST": "127.0.0.1", "PROXY_PORT": str(port)}
        counts[mode, "translated"] = instructions_per_request(
            f"gateway-translated-{mode}", [ps.TENANT_PROXY, "serve", "--dev"], env, port, out, body
        )
    return counts


def render(
    results: dict[tuple[str, int, str], list[Sample]],
    levels: list[int],
    kind: str,
    pinned: bool,
    args: argparse.Namespace,
    instructions: dict[tuple[str, str], int] | None,
) -> str:
    def med(key: tuple[str, int, str], attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in results[key])

    order = [
        "direct",
        "bare",
        "gateway-base",
        "gateway",
        "gateway-mt",
        "gateway-money",
        "gateway-store",
    ]
    names = sorted({k[2] for k in results}, key=order.index)
    lines = [
        f"# Relay cost — {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        f"Upstream: {kind}. `gateway`: `tenant-proxy serve` in static mode, 1 gunicorn worker; "
        "`gateway-mt`: the same in multi-tenant mode (JWT auth, config from L1; Redis and the mock "
        "Config API behind it); `gateway-money`: the static gateway with a budget and RPM/TPM "
        "limits it never reaches (one script call per request, Redis beside it); "
        "`bare`: `bench/bare_relay.py`. "
        f"{PINNED if pinned else 'One CPU: nothing pinned.'}",
        f"wrk -t1, {args.duration:g} s per point, {args.rounds} interleaved rounds; medians shown.",
        "",
        "| mode | conc | target | req/s | ÷ bare | ÷ static gateway | p50 ms | p99 ms "
        "| added p50 ms (− direct) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in ("json", "stream"):
        for conc in levels:
            direct, bare, static = (
                (mode, conc, "direct"),
                (mode, conc, "bare"),
                (mode, conc, "gateway"),
            )
            for name in names:
                key = (mode, conc, name)
                if key not in results:
                    continue
                vs_bare = (
                    ""
                    if name in ("direct", "bare")
                    else f"{med(key, 'rps') / med(bare, 'rps'):.2f}"
                )
                vs_static = (
                    f"{med(key, 'rps') / med(static, 'rps'):.2f}"
                    if name in ("gateway-mt", "gateway-money", "gateway-store")
                    else ""
                )
                added = (
                    "" if name == "direct" else f"{med(key, 'p50_ms') - med(direct, 'p50_ms'):.3f}"
                )
                rps = med(key, "rps")
                lines.append(
                    f"| {mode} | {conc} | {name} | {rps:,.0f} | {vs_bare} | {vs_static} "
                    f"| {med(key, 'p50_ms'):.3f} | {med(key, 'p99_ms'):.3f} | {added} "
                    f"| {sum(s.errors for s in results[key])} |"
                )
    if any(k[2] == "gateway-store" for k in results):
        lines += [
            "",
            f"`gateway-store`: built-in-store mode (SQLite, no Redis, 1 worker), {args.store:,} "
            f"tenants created through the API in {args.store_create_s:.1f} s "
            f"({args.store / args.store_create_s:,.0f}/s, 20 at a time), called with a minted "
            "proxy token. Throughput ÷ `gateway-mt` (JWT), same rounds:",
            "",
        ]
        for mode in ("json", "stream"):
            for conc in levels:
                store_key, mt_key = (mode, conc, "gateway-store"), (mode, conc, "gateway-mt")
                if store_key in results and mt_key in results:
                    ratio = med(store_key, "rps") / med(mt_key, "rps")
                    paired = statistics.median(
                        s.rps / m.rps
                        for s, m in zip(results[store_key], results[mt_key], strict=True)
                    )
                    lines.append(
                        f"- {mode} c{conc}: {ratio:.3f} (ratio of medians); {paired:.3f} "
                        "(median of the rounds' ratios: the two ran back to back in each round)"
                    )
    lines += ["", "Every round, point by point (req/s):", ""]
    for key, samples in sorted(results.items()):
        lines.append(
            f"- {key[0]} c{key[1]} {key[2]}: " + ", ".join(f"{s.rps:.0f}" for s in samples)
        )
    if instructions:
        lines += [
            "",
            "## CPU instructions per request (callgrind, sequential)",
            "",
            "| mode | gateway | bare relay | gateway ÷ bare | bare ÷ gateway "
            "| gateway-base | gateway ÷ base |",
            "|---|---|---|---|---|---|---|",
        ]
        for mode in ("json", "stream"):
            gw_n, bare_n = instructions[mode, "gateway"], instructions[mode, "bare"]
            base_n = instructions.get((mode, "gateway-base"))
            base = f"| {base_n:,} | {gw_n / base_n:.3f} |" if base_n else "| | |"
            lines.append(
                f"| {mode} | {gw_n:,} | {bare_n:,} | {gw_n / bare_n:.3f} | {bare_n / gw_n:.2f} "
                + base
            )
        if (("json", "translated")) in instructions:
            lines += [
                "",
                "Translated (an OpenAI client on an `anthropic` route: the request, the answer"
                " and every stream event translated):",
                "",
                "| mode | pass-through | translated | translated ÷ pass-through |",
                "|---|---|---|---|",
            ]
            for mode in ("json", "stream"):
                gw_n, tr_n = instructions[mode, "gateway"], instructions[mode, "translated"]
                lines.append(f"| {mode} | {gw_n:,} | {tr_n:,} | {tr_n / gw_n:.3f} |")
    if getattr(args, "compare", False):
        lines += render_compare(results, instructions, getattr(args, "rss", [0.0]))
    lines += [
        "",
        textwrap.dedent("""\
        Added latency is a target's median minus the upstream's median at the same
        concurrency; at concurrency 1 it is the per-request cost of the hop."""),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
