"""Scale-out (SPEC 15): two replicas, two gunicorn workers each, sharing one Redis
Cluster and one MySQL store (built-in-store mode). What an operator checks before
adding replicas: a budget holds across all four processes, a token revoked or a
tenant patched through one replica is seen by the other within 1 s, and the
metering API answers the same on either replica.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.admin.conftest import ADMIN, mysql_database_url
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import (
    Lane,
    free_port,
    lanes_on_every_worker,
    spawn_logged,
    wait_until_answering,
    worker_pids,
)

pytestmark = pytest.mark.slow

BODY = b'{"model":"metered","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
ESTIMATE = math.ceil(len(BODY) / 4) + 50  # micro-USD at one USD per million tokens
FITS = 7
LANES = 3  # keep-alive connections per worker (4 workers: 12 requests in flight at once)
EACH = 4  # requests per connection
BIN = str(Path(sys.executable).with_name("tenant-proxy"))


class ExactUpstream:
    """Answers with exactly the usage the proxy estimated (so the README's bound is 0),
    once `hold` requests are in flight together (reservations overlap for real)."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.models: list[str] = []
        self._all_in = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.models.append(body["model"])
        if len(self.models) >= self.hold:
            self._all_in.set()
        async with asyncio.timeout(30):
            await self._all_in.wait()
        usage = {"prompt_tokens": math.ceil(len(BODY) / 4), "completion_tokens": body["max_tokens"]}
        return web.json_response({"choices": [], "usage": usage})


@pytest.fixture
async def upstream(aiohttp_server: Any) -> tuple[ExactUpstream, str]:
    exact = ExactUpstream(hold=FITS)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", exact.handle)
    server = await aiohttp_server(app)
    return exact, str(server.make_url("")).rstrip("/")


@dataclass
class Replicas:
    urls: list[str]
    ports: list[int]
    workers: list[list[int]]  # each replica's worker pids
    opened: list[Lane] = field(default_factory=list)

    async def lanes(self, replica: int, each: int = 2) -> list[Lane]:
        """Keep-alive connections to one replica, `each` held by every worker."""
        port, workers = self.ports[replica], self.workers[replica]
        by_worker = await lanes_on_every_worker(port, workers, each)
        lanes = [lane for of_worker in by_worker.values() for lane in of_worker]
        self.opened += lanes
        return lanes


@pytest.fixture
async def store(mysql_url: Any, tmp_path: Path) -> str:
    """The replicas' MySQL database, migrated as a deployment does: `db migrate`."""
    url = mysql_database_url(mysql_url)
    migrate = await spawn_logged(
        tmp_path, BIN, "db", "migrate", env={**os.environ, "DATABASE_URL": url}
    )
    assert await migrate.wait() == 0, (tmp_path / "err.log").read_text()
    return url


@pytest.fixture
async def replicas(tmp_path, redis_cluster, store) -> AsyncIterator[Replicas]:
    """Two `tenant-proxy serve` (two workers each) on the cluster and the store."""
    flush = redis_cluster_client(redis_cluster.url)
    await flush.flushdb()
    await flush.aclose()
    procs, urls = [], []
    try:
        for n in (1, 2):
            directory = tmp_path / f"replica{n}"
            (directory / "metrics").mkdir(parents=True)
            port = free_port()
            procs.append(
                await spawn_logged(
                    directory, BIN, "serve", env=_env(directory, port, store, redis_cluster.url)
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url, n in zip(procs, urls, (1, 2), strict=True):
            await wait_until_answering(url, proc, tmp_path / f"replica{n}")
        ports = [int(url.rsplit(":", 1)[1]) for url in urls]
        running = Replicas(urls, ports, [worker_pids(proc.pid) for proc in procs])
        yield running
        for lane in running.opened:
            await lane.aclose()
    finally:
        await _stop(procs)


def redis_cluster_client(url: str) -> Any:
    from redis.asyncio import RedisCluster

    return RedisCluster.from_url(url, socket_timeout=2)


def _env(directory: Path, port: int, database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "PROXY_", "REDIS_", "CONFIG_API", "AUTH_"))
    }
    return env | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": "1",
        "PROXY_ADMIN_KEY": ADMIN["Authorization"].removeprefix("Bearer "),
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "2",
        "PROXY_GRACEFUL_TIMEOUT": "5",
        "PROXY_REQUEST_LOG": "0",
        "UPSTREAM_ALLOW_PRIVATE": "1",  # the upstream lives on loopback
        "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
    }


async def _stop(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            async with asyncio.timeout(20):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _admin(url: str, method: str, path: str, doc: Any = None) -> Any:
    async with aiohttp.ClientSession(url, headers=ADMIN) as session:
        async with session.request(method, path, json=doc) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            return await resp.json() if resp.status != 204 else None


def _tenant(tenant_id: str, upstream_url: str, **extra: Any) -> dict[str, Any]:
    route = {
        "model_name": "metered",
        "provider": "openai",
        "api_base": upstream_url,
        "api_key": "sk-up.fake",
        "input_cost_per_mtok": 1.0,
        "output_cost_per_mtok": 1.0,
    }
    return {"tenant_id": tenant_id, "models": [route], **extra}


def _chat(tenant: str) -> str:
    return f"/users/{tenant}/v1/chat/completions"


async def _send_all(lanes: list[Lane], tenant: str, token: str, each: int) -> list[int]:
    """Every lane sends `each` requests, one after the other; the lanes at once."""

    async def run(lane: Lane) -> list[int]:
        return [await lane.send("POST", _chat(tenant), token, BODY) for _ in range(each)]

    return [status for sent in await asyncio.gather(*map(run, lanes)) for status in sent]


async def _usage_when_settled(url: str, tenant: str, requests: int, refused: int) -> Any:
    """The tenant's usage report once the ledger holds every request (each worker
    writes its batch within a moment; polled, as the writes happen in other processes)."""
    deadline = time.monotonic() + 15
    while True:
        report = await _admin(url, "GET", f"/admin/tenants/{tenant}/usage")
        total = report["total"]
        if (total["requests"], total["refused"]) == (requests, refused):
            return report
        assert time.monotonic() < deadline, f"the ledger holds {total}"
        await asyncio.sleep(0.1)


async def test_a_budget_holds_across_two_replicas_of_two_workers(replicas, upstream):
    exact, upstream_url = upstream
    one, two = replicas.urls
    budget = {"monthly_usd": FITS * ESTIMATE / 1e6}
    await _admin(one, "POST", "/admin/tenants", _tenant("acme", upstream_url, budget=budget))
    token = (await _admin(two, "POST", "/admin/tenants/acme/tokens", {}))["token"]
    lanes = await replicas.lanes(0, LANES) + await replicas.lanes(1, LANES)
    assert len(lanes) >= 4 * LANES  # every one of the four processes takes part

    statuses = await _send_all(lanes, "acme", token, EACH)

    sent = len(lanes) * EACH
    assert sorted(statuses) == [200] * FITS + [429] * (sent - FITS)
    assert len(exact.models) == FITS  # exactly the requests that fit were forwarded
    reports = [await _usage_when_settled(url, "acme", FITS, sent - FITS) for url in replicas.urls]
    assert reports[0]["total"] == reports[1]["total"]
    total = reports[0]["total"]
    assert round(total["cost_usd"] * 1e6) == FITS * ESTIMATE  # the bound is 0: exact estimates
    for report in reports:
        assert round(report["budget"]["spent_usd"] * 1e6) == FITS * ESTIMATE
        assert report["budget"]["reserved_usd"] == 0


async def test_a_revoke_and_a_patch_through_one_replica_reach_the_other_within_a_second(
    replicas, upstream
):
    exact, upstream_url = upstream
    exact.hold = 1
    one, _ = replicas.urls
    doc = _tenant("acme", upstream_url)
    await _admin(one, "POST", "/admin/tenants", doc)
    minted = await _admin(one, "POST", "/admin/tenants/acme/tokens", {})
    token = minted["token"]
    lanes = await replicas.lanes(1)  # replica 2, both workers
    assert set(await _send_all(lanes, "acme", token, 2)) == {200}  # config and token cached
    assert set(exact.models) == {"metered"}

    patch = {"models": [{**doc["models"][0], "upstream_model": "patched"}]}
    await _admin(one, "PATCH", "/admin/tenants/acme", patch)
    await _within_a_second(lambda: _models_seen(lanes, token, exact), {"patched"})

    await _admin(one, "DELETE", f"/admin/tenants/acme/tokens/{minted['token_id']}")
    await _within_a_second(lambda: _statuses(lanes, token), {401})


async def _statuses(lanes: list[Lane], token: str) -> set[Any]:
    return set(await _send_all(lanes, "acme", token, 1))


async def _models_seen(lanes: list[Lane], token: str, exact: ExactUpstream) -> set[Any]:
    before = len(exact.models)
    statuses = await _send_all(lanes, "acme", token, 1)
    return set(exact.models[before:]) | {s for s in statuses if s != 200}


async def _within_a_second(probe: Callable[[], Awaitable[set[Any]]], expected: set[Any]) -> None:
    """Probes (a request on every lane: every worker) until every answer is the new
    one; that probe started within 1 s of the change, and the next one agrees."""
    changed = time.monotonic()
    while True:
        started = time.monotonic()
        if await probe() == expected:
            break
        assert started - changed < 1.0, "not every worker changed within 1 s"
    assert await probe() == expected
