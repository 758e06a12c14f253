"""CPU instructions per request under callgrind: deterministic, so a shared, noisy
machine still gives figures that can be compared (and quoted before/after a change).

Each target runs alone under `valgrind --tool=callgrind` (`serve --dev`: one process,
so the counts include the event loop's background work: the budget loop, telemetry),
gets 300 sequential warm-up requests, then `n` counted ones. Where a target has a
Redis of its own, `INFO commandstats` is read before and after the counted requests:
Redis commands per request at concurrency 1, as repeatable as the instructions.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import processes as ps
from bench import targets as tg

PATH = "/v1/chat/completions"
STATIC_TARGETS = ("gateway", "gateway-base", "bare", "translated")
OPTIONAL_TARGETS = ("gateway-mt", "gateway-mt@50", "gateway-store", "gateway-money")


@dataclass(frozen=True)
class Counted:
    """Per request: CPU instructions, and Redis commands by name (empty: no Redis)."""

    instructions: int
    redis: dict[str, float] = field(default_factory=dict)

    def redis_total(self) -> float:
        return sum(self.redis.values())


@dataclass(frozen=True)
class Load:
    """What the counted requests send."""

    body: str
    prefix: str = ""  # e.g. /users/t00001 in multi-tenant mode
    headers: dict[str, str] = field(default_factory=dict)
    concurrency: int = 1  # above 1: that many connections, each sending as it gets answers


class CommandCounts:
    """INFO commandstats of a Redis (nothing without a port), read over one connection
    kept open, so that reading adds one INFO and nothing else. Counts include the
    commands scripts run: a script call shows as one `evalsha` plus what it ran."""

    def __init__(self, port: int | None) -> None:
        import redis

        self._client = None if port is None else redis.Redis(port=port, protocol=2)

    def read(self) -> dict[str, int]:
        if self._client is None:
            return {}
        stats = self._client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def per_request(before: dict[str, int], after: dict[str, int], n: int) -> dict[str, float]:
    delta = {name: calls - before.get(name, 0) for name, calls in after.items()}
    delta["info"] = delta.get("info", 0) - 1  # the INFO that read `before`
    return {name: calls / n for name, calls in sorted(delta.items()) if calls > 0}


def instructions_per_request(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    out: Path,
    load: Load,
    n: int = 2000,
    *,
    redis_port: int | None = None,
) -> Counted:
    """What the server spends per sequential request (valgrind callgrind)."""
    prefix = out / f"callgrind.{name}"
    for stale in out.glob(f"callgrind.{name}.*"):  # a reused --out: count this run only
        stale.unlink()
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
        send = _concurrent if load.concurrency > 1 else _sequential
        send(port, load, 300, name)  # warm caches, pools and memos
        callgrind = ["callgrind_control", "-i", "on", str(proc.pid)]
        subprocess.run(callgrind, capture_output=True, check=True)
        counts = CommandCounts(redis_port)
        before = counts.read()
        send(port, load, n, name)
        after = counts.read()
        counts.close()
        callgrind[2] = "off"
        subprocess.run(callgrind, capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Counted(_total(out, name) // n, per_request(before, after, n))


def _sequential(port: int, load: Load, count: int, name: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", **load.headers}
    for _ in range(count):
        conn.request("POST", load.prefix + PATH, body=load.body.encode(), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"{name}: {resp.status} {resp.read()[:300]!r}")
        resp.read()
    conn.close()


def _concurrent(port: int, load: Load, count: int, name: str) -> None:
    """Exactly `count` requests over `load.concurrency` connections, each sending its
    next request as soon as its last is answered (so none is left in flight)."""
    import aiohttp

    url = f"http://127.0.0.1:{port}{load.prefix}{PATH}"
    headers = {"Content-Type": "application/json", **load.headers}
    left = [count]

    async def drive() -> None:
        connector = aiohttp.TCPConnector(limit=load.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def client() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    async with session.post(url, data=load.body, headers=headers) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"{name}: {resp.status} {await resp.text()}")
                        await resp.read()

            await asyncio.gather(*(client() for _ in range(load.concurrency)))

    asyncio.run(drive())


def _total(out: Path, name: str) -> int:
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
    return total


SERVE = [ps.TENANT_PROXY, "serve", "--dev"]


def count_instructions(
    out: Path,
    upstream_choice: str,
    base_env: dict[str, str],
    *,
    store_tenants: int = 0,
    only: frozenset[str] | None = None,
) -> dict[tuple[str, str], Counted]:
    """{(mode, target): Counted} for JSON and streaming chat: the static gateway, the
    bare relay, a translated route (an OpenAI client on an Anthropic route),
    `gateway-base` with a baseline tree, and `gateway-mt` (JWT), `gateway-money` and,
    with `store_tenants`, `gateway-store` (proxy token). `only`: these targets."""
    counts: dict[tuple[str, str], Counted] = {}

    def wanted(target: str) -> bool:
        return only is None or target in only

    with ps.Processes(out / "logs-callgrind") as procs:
        work = out / "callgrind-upstream"
        cpus = "1" if ps.cpu_count() >= 2 else None
        kind, json_url, sse_url = tg.start_upstream(upstream_choice, procs, work, cpus)
        messages = tg.start_messages_upstream(kind, procs, work, cpus, json_url)
        config = tg.gateway_config(work / "gateway.yaml", json_url, sse_url, messages=messages)
        bodies = {"json": tg.JSON_BODY, "stream": tg.STREAM_BODY}
        upstreams = {"json": json_url, "stream": sse_url}
        counts |= _count_static(out, config, bodies, upstreams, base_env, wanted)
        if wanted("gateway-mt") or wanted("gateway-mt@50"):
            counts |= _count_mt(procs, out, json_url, sse_url, cpus, bodies, wanted)
        if wanted("gateway-money"):
            counts |= _count_money(procs, out, work, json_url, sse_url, cpus, bodies)
        if store_tenants and (wanted("gateway-store") or wanted("gateway-store@50")):
            counts |= _count_store(procs, out, json_url, sse_url, cpus, bodies, store_tenants)
    return counts


def _count_static(
    out: Path,
    config: Path,
    bodies: dict[str, str],
    upstreams: dict[str, str],
    base_env: dict[str, str],
    wanted: Callable[[str], bool],
) -> dict[tuple[str, str], Counted]:
    """The static gateway (and `gateway-base`), the bare relay, translated routes."""
    counts = {}
    translated = {"json": tg.TRANSLATED_JSON_BODY, "stream": tg.TRANSLATED_STREAM_BODY}
    for mode, body in bodies.items():
        runs: list[tuple[str, list[str], dict[str, str], str]] = [
            ("gateway", SERVE, {}, body),
            ("translated", SERVE, {}, translated[mode]),
        ]
        if base_env:
            runs.append(("gateway-base", SERVE, base_env, body))
        bare = [ps.PYTHON, "-m", "bench.bare_relay", "--upstream", upstreams[mode], "--port"]
        runs.append(("bare", bare, {}, body))
        for target, cmd, env, sent in runs:
            if not wanted(target):
                continue
            port = ps.free_port()
            if target == "bare":
                cmd, env = [*cmd, str(port)], {}
            else:
                env = {"PROXY_CONFIG": str(config), "PROXY_HOST": "127.0.0.1", **env}
                env["PROXY_PORT"] = str(port)
            name = f"gateway-{target}-{mode}" if target == "translated" else f"{target}-{mode}"
            counts[mode, target] = instructions_per_request(name, cmd, env, port, out, Load(sent))
    return counts


def _count_mt(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    bodies: dict[str, str],
    wanted: Callable[[str], bool],
) -> dict[tuple[str, str], Counted]:
    """Multi-tenant mode with a JWT (config from L1; Redis and the Config API behind),
    one request at a time (`gateway-mt`) and over 50 connections (`gateway-mt@50`: what
    `gateway-store@50` is compared with, #13)."""
    redis_port, config_api = tg.mt_backing(procs, json_url, sse_url, cpus)
    counts = {}
    for target, concurrency in [("gateway-mt", 1), ("gateway-mt@50", 50)]:
        if not wanted(target):
            continue
        for mode, body in bodies.items():
            port = ps.free_port()
            load = Load(body, f"/users/{tg.MT_TENANT}", tg.mt_headers(), concurrency)
            env = tg.mt_env(redis_port, config_api, port)
            counts[mode, target] = _serve_counted(target, mode, env, port, out, load, redis_port)
    return counts


def _count_money(
    procs: ps.Processes,
    out: Path,
    work: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    bodies: dict[str, str],
) -> dict[tuple[str, str], Counted]:
    """The static gateway with a budget and RPM/TPM limits on its tenant (MONEY), one
    request at a time (`gateway-money`), and it and the plain gateway under 50
    concurrent connections (`gateway-money@50`, `gateway@50`: there the requests that
    arrive together share a script call)."""
    redis_port = ps.free_port()
    ps.start_redis(procs, redis_port, cpus)
    money = tg.gateway_config(work / "gateway-money.yaml", json_url, sse_url, tg.MONEY)
    plain = tg.gateway_config(work / "gateway-plain.yaml", json_url, sse_url)
    runs = [("gateway-money", money, 1), ("gateway-money@50", money, 50), ("gateway@50", plain, 50)]
    counts = {}
    for mode, body in bodies.items():
        for target, config, concurrency in runs:
            port = ps.free_port()
            env = {"PROXY_CONFIG": str(config), "PROXY_HOST": "127.0.0.1", "PROXY_PORT": str(port)}
            if config == money:  # under callgrind a round trip takes far longer than 0.5 s
                env |= {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "REDIS_TIMEOUT": "30"}
            load = Load(body, concurrency=concurrency)
            redis = redis_port if config == money else None
            counts[mode, target] = _serve_counted(target, mode, env, port, out, load, redis)
    return counts


def _count_store(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    bodies: dict[str, str],
    tenants: int,
) -> dict[tuple[str, str], Counted]:
    """Built-in-store mode (SQLite, no Redis) with a proxy token: the store is filled
    through the API by an ordinary gateway, which then stops; the counted one serves it,
    one request at a time (`gateway-store`) and over 50 connections (`gateway-store@50`:
    there the usage ledger writes fuller batches)."""
    key = base64.b64encode(os.urandom(32)).decode()
    (url_prefix, headers), _ = tg.start_gateway_store(
        procs, out, json_url, sse_url, cpus, tenants, name="store-fill", encryption_key=key
    )
    ps.stop(procs.named("store-fill"))
    prefix = url_prefix[url_prefix.index("/users/") :]
    counts = {}
    runs = [("gateway-store", 1), ("gateway-store@50", 50)]  # c=50 last: its shutdown is slow
    for target, concurrency in runs:
        for mode, body in bodies.items():
            port = ps.free_port()
            env = tg.store_env(out / "store-fill.db", key, port)
            load = Load(body, prefix, headers, concurrency=concurrency)
            counts[mode, target] = _serve_counted(target, mode, env, port, out, load)
    return counts


def _serve_counted(
    target: str,
    mode: str,
    env: dict[str, str],
    port: int,
    out: Path,
    load: Load,
    redis_port: int | None = None,
) -> Counted:
    """A gateway target's count; `x@50` is logged as `x-c50-<mode>`."""
    name = f"{target.replace('@', '-c')}-{mode}"
    return instructions_per_request(name, SERVE, env, port, out, load, redis_port=redis_port)
