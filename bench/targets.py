"""What the relay benchmarks measure: the upstreams, the gateway in each mode, the bare
relay; started on loopback, ready when returned. `bench.relay` drives them with wrk,
`bench.instructions` under callgrind, `bench.money` with wrk and /proc CPU time.

Targets: `gateway` (static, one worker), `gateway-mt` (multi-tenant: JWTs, a private
Redis and the mock Config API), `gateway-money` (static with a budget and RPM/TPM limits
it never reaches, a private Redis), `gateway-store` (built-in-store mode on SQLite, no
Redis, N tenants created through the API, called with a minted proxy token),
`gateway-store-jwt` (the same store file served by a second gateway, called with a JWT:
built-in-store mode with its usage ledger, only the credential differs), `bare`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from bench import processes as ps
from bench.mock_config_api import tenant_config
from proxy.body import RequestBody
from proxy.providers.mock import MockProvider

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
    return _start_nginx(procs, "nginx-messages", out / "messages", _canned_messages(), cpus)


def _start_nginx(
    procs: ps.Processes, name: str, out: Path, bodies: tuple[str, str], cpus: str | None
) -> tuple[str, str]:
    """nginx answering the canned (JSON, SSE) bodies on two ports: their URLs, ready."""
    (out / "tmp").mkdir(parents=True, exist_ok=True)
    json_port, sse_port = ps.free_port(), ps.free_port()
    conf = out / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=out, json_port=json_port, sse_port=sse_port, json=bodies[0], sse=bodies[1]
        )
    )
    proc = procs.start(name, ["nginx", "-c", str(conf)], cpus=cpus)
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
        return kind, *_start_nginx(procs, "nginx", out, _canned(), cpus)
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


def mt_backing(
    procs: ps.Processes, json_url: str, sse_url: str, cpus: str | None
) -> tuple[int, str]:
    """A private Redis and the mock Config API for multi-tenant mode: (Redis port, API URL).
    Its tenants have no budget: the same documents `gateway-store` is filled with, so
    the two modes differ only in how a client is authenticated and a config found."""
    redis_port, api_port = ps.free_port(), ps.free_port()
    ps.start_redis(procs, redis_port, cpus)
    api = ps.start_config_api(procs, api_port, 100, json_url, sse_url, cpus, budget=False)
    return redis_port, api


def mt_env(redis_port: int, config_api: str, port: int) -> dict[str, str]:
    """Settings of a multi-tenant gateway on `port` (JWTs, Config API, Redis)."""
    return {
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CONFIG_API_URL": config_api,
        "AUTH_JWT_SECRET": MT_SECRET,
        "PROXY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
    }


def mt_headers() -> dict[str, str]:
    """A JWT for MT_TENANT, valid for a day."""
    import jwt

    token = jwt.encode(
        {"sub": MT_TENANT, "exp": int(time.time()) + 86400}, MT_SECRET, algorithm="HS256"
    )
    return {"Authorization": "Bearer " + token}


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
    port = ps.free_port()
    env = mt_env(*mt_backing(procs, json_url, sse_url, load_cpus), port)
    url = _serve_one_worker(procs, "gateway-mt", env, out / "metrics-mt", port, cpus)
    return url + f"/users/{MT_TENANT}", mt_headers()


def _serve_one_worker(
    procs: ps.Processes, name: str, env: dict[str, str], metrics: Path, port: int, cpus: str | None
) -> str:
    """`tenant-proxy serve` with one worker and `env` on `port`, ready; its base URL."""
    env = {**env, "PROXY_WORKERS": "1", "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    proc = procs.start(name, [ps.TENANT_PROXY, "serve"], env=env, cpus=cpus)
    url = f"http://127.0.0.1:{port}"
    ps.wait_http(url + "/healthz", proc)
    return url


def start_gateway_money(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    load_cpus: str | None,
) -> tuple[str, int] | None:
    """The static gateway with a budget and RPM/TPM limits (MONEY) in a private Redis:
    compare with `gateway` for what budgets and limits cost. (URL, Redis port); None
    without redis-server."""
    if shutil.which("redis-server") is None:
        return None
    redis_port = ps.free_port()
    ps.start_redis(procs, redis_port, load_cpus)
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    url = start_gateway(
        procs, out, json_url, sse_url, cpus, name="gateway-money", env=env, extra=MONEY
    )
    return url, redis_port


STORE_ADMIN_KEY = "bench-admin-key-not-for-production"


def store_env(database: Path, encryption_key: str, port: int) -> dict[str, str]:
    """Settings of a built-in-store gateway on `port` over the SQLite file `database`."""
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "PROXY_ADMIN_KEY": STORE_ADMIN_KEY,
        "PROXY_ENCRYPTION_KEY": encryption_key,
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
    }


def start_gateway_store(
    procs: ps.Processes,
    out: Path,
    json_url: str,
    sse_url: str,
    cpus: str | None,
    tenants: int,
    *,
    name: str = "gateway-store",
    encryption_key: str | None = None,
) -> tuple[tuple[str, dict[str, str]], float]:
    """The gateway in built-in-store mode with `tenants` tenants created through the
    API in a new `out/<name>.db`; ((tenant URL, token headers), seconds the creates
    took). The file outlives the process: another gateway can serve it."""
    port = ps.free_port()
    database = out / f"{name}.db"
    for stale in out.glob(f"{name}.db*"):
        stale.unlink()
    key = encryption_key or base64.b64encode(os.urandom(32)).decode()
    env = store_env(database, key, port)
    url = _serve_one_worker(procs, name, env, out / f"metrics-{name}", port, cpus)
    seconds, token = asyncio.run(_fill_store(url, tenants, json_url, sse_url))
    return (url + f"/users/{MT_TENANT}", {"Authorization": "Bearer " + token}), seconds


def start_gateway_store_jwt(
    procs: ps.Processes, out: Path, database: Path, encryption_key: str, cpus: str | None
) -> tuple[str, dict[str, str]]:
    """A second built-in-store gateway over `database` (filled by `start_gateway_store`
    with `encryption_key`), also accepting JWTs for its tenants; (tenant URL, JWT
    headers). Against `gateway-store` it measures the proxy-token check alone: the two
    differ only in the credential (both keep the usage ledger, which a Config API
    gateway does not have)."""
    port = ps.free_port()
    env = {**store_env(database, encryption_key, port), "AUTH_JWT_SECRET": MT_SECRET}
    metrics = out / "metrics-gateway-store-jwt"
    url = _serve_one_worker(procs, "gateway-store-jwt", env, metrics, port, cpus)
    return url + f"/users/{MT_TENANT}", mt_headers()


async def _fill_store(url: str, tenants: int, json_url: str, sse_url: str) -> tuple[float, str]:
    """Create t00001..tNNNNN through the API (20 at a time), each with the document the
    mock Config API serves `gateway-mt`; mint a token for t00001."""
    import aiohttp

    headers = {"Authorization": "Bearer " + STORE_ADMIN_KEY}
    ids = iter(f"t{i:05d}" for i in range(1, tenants + 1))
    async with aiohttp.ClientSession(url, headers=headers) as session:

        async def creator() -> None:
            for tenant_id in ids:
                doc = tenant_config(tenant_id, json_url, sse_url, budget=False)
                body = {"tenant_id": tenant_id, **doc}
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
