"""The usage ledger for real: gunicorn with two workers in built-in-store mode, one Redis.

What a finance team checks: exactly the requests the budget covers are forwarded, the
ledger's total (the metering API, to the micro-USD) equals the Redis month counter, no
reservation is left, a restart keeps the month's spend and the ledger, and a store
outage under load loses no usage row and writes none twice. The ledger's counters in
/metrics add up: produced = written + dropped + pending (+ the spill list).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.accounting.ledger import SPILL_KEY
from proxy.accounting.redis_quota import reserved_key, spend_key
from proxy.store.open import migrate_database
from tests.accounting.test_budget_serving import BODY, ESTIMATE, FITS, ExactUpstream, _upstream
from tests.conftest import ENCRYPTION_KEY, REDIS_TEST_URL, mysql_admin
from tests.helpers import free_port, spawn_logged, wait_until_answering

pytestmark = pytest.mark.slow

ADMIN_KEY = "admin-key-for-ledger-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TODAY = datetime.now(UTC).date().isoformat()
MONTH = TODAY[:7]


@asynccontextmanager
async def serving(tmp_path: Path, database_url: str, **env: str) -> AsyncIterator[str]:
    """`tenant-proxy serve`, two workers, built-in-store mode with Redis; SIGTERM at the
    end (a clean shutdown writes the last usage records)."""
    port = free_port()
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROXY_", "DATABASE_"))},
        "DATABASE_URL": database_url,
        "PROXY_ADMIN_KEY": ADMIN_KEY,
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "2",
        "PROXY_GRACEFUL_TIMEOUT": "10",
        "PROXY_REQUEST_LOG": "0",
        "PROXY_METRICS_FLUSH_INTERVAL": "0.2",
        "REDIS_URL": REDIS_TEST_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **env,
    }
    (tmp_path / "metrics").mkdir(exist_ok=True)
    binary = str(Path(sys.executable).with_name("tenant-proxy"))
    proc = await spawn_logged(tmp_path, binary, "serve", env=environ)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_answering(url, proc, tmp_path)
        await _both_workers_started(tmp_path)
        yield url
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _both_workers_started(directory: Path) -> None:
    """/healthz answers once one worker is up: wait for the other's start-up line too
    (a worker still opening the store when a test cuts it would fail to boot)."""
    async with asyncio.timeout(30):
        while not _started(directory, 2):  # noqa: ASYNC110 (another process's log: no event)
            await asyncio.sleep(0.05)


def _started(directory: Path, workers: int) -> bool:
    return (directory / "err.log").read_text().count('"msg":"multi-tenant mode"') >= workers


async def _admin(url: str, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + path, json=body, headers=ADMIN) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()


async def _tenant(url: str, upstream_url: str, **extra: Any) -> dict[str, str]:
    """Tenant acme on the metered route; the bearer header of a fresh token."""
    route = {
        "model_name": "metered",
        "provider": "openai",
        "api_base": upstream_url,
        "api_key": "sk-up-0001",
        "input_cost_per_mtok": 1.0,
        "output_cost_per_mtok": 1.0,
    }
    await _admin(url, "POST", "/admin/tenants", {"tenant_id": "acme", "models": [route], **extra})
    minted = await _admin(url, "POST", "/admin/tenants/acme/tokens", {"ttl_s": 3600})
    return {"Authorization": f"Bearer {minted['token']}", "Content-Type": "application/json"}


async def _post_all(url: str, headers: dict[str, str], count: int) -> list[int]:
    """`count` requests at once, each on its own connection (both workers get some)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with session.post(
                f"{url}/users/acme/v1/chat/completions", data=BODY, headers=headers
            ) as resp:
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _report(url: str) -> dict[str, Any]:
    return await _admin(url, "GET", f"/admin/tenants/acme/usage?start={TODAY}&end={TODAY}")


async def _reported(url: str, requests: int, refused: int, within: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            report = await _report(url)
            if (report["total"]["requests"], report["total"]["refused"]) == (requests, refused):
                return report
            await asyncio.sleep(0.1)


async def _ledger_counters(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    found = {
        m[1]: float(m[2])
        for m in re.finditer(
            r'^tenant_proxy_usage_records_total\{outcome="(\w+)"\} (\S+)$', text, re.M
        )
    }
    pending = re.search(r"^tenant_proxy_usage_pending (\S+)$", text, re.M)
    found["pending"] = float(pending[1]) if pending else 0.0
    return found


async def _settled_counters(url: str, redis_client: Any, produced: int) -> dict[str, float]:
    """The ledger's counters over every worker once each has flushed at least `produced`
    records to /metrics and nothing is pending (workers flush every 0.2 s)."""
    async with asyncio.timeout(10):
        while True:
            c = await _ledger_counters(url)
            spilled_now = await redis_client.llen(SPILL_KEY)
            if c.get("produced", 0) >= produced and c["pending"] == 0 and spilled_now == 0:
                if c["produced"] == c.get("written", 0) + c.get("dropped", 0):
                    return c
            await asyncio.sleep(0.2)


async def test_200_concurrent_requests_budget_for_37_the_ledger_equals_the_month_counter(
    tmp_path, aiohttp_server, redis_client
):
    upstream = ExactUpstream(hold=FITS)
    upstream_url = await _upstream(aiohttp_server, upstream)
    database = f"sqlite:///{tmp_path}/store.db"
    async with serving(tmp_path, database) as url:
        headers = await _tenant(url, upstream_url, budget={"monthly_usd": FITS * ESTIMATE / 1e6})
        statuses = await _post_all(url, headers, 200)
        assert sorted(statuses) == [200] * FITS + [429] * (200 - FITS)
        assert upstream.served == FITS
        report = await _reported(url, FITS, 200 - FITS)
        counters = await _settled_counters(url, redis_client, 200)
    assert counters["produced"] == counters["written"] == 200 and counters.get("dropped", 0) == 0
    ledger = round(report["total"]["cost_usd"] * 1_000_000)
    spent = int(await redis_client.get(spend_key("acme", MONTH)))
    assert ledger == spent == FITS * ESTIMATE  # micro-exact; the bound is 0 here
    assert await redis_client.get(reserved_key("acme", MONTH)) is None
    assert report["groups"] == [
        {"key": TODAY, "day": TODAY, **{k: v for k, v in report["total"].items() if k != "refused"}}
    ]

    # A restart keeps the month's spend and the ledger: the budget is still used up.
    async with serving(tmp_path, database) as url:
        assert (await _report(url))["total"] == report["total"]
        assert await _post_all(url, headers, 1) == [429]
        after = await _reported(url, FITS, 200 - FITS + 1)
    assert upstream.served == FITS
    assert round(after["budget"]["spent_usd"] * 1_000_000) == spent


class Forwarder:
    """A loopback TCP forwarder to MariaDB that the test can cut (listener closed, every
    connection reset) and restore on the same port: a real store outage."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


def outage_seconds(config: pytest.Config) -> float:
    """SPEC's 30 s on CI (CI=true) or when slow tests are selected (`-m slow`); 3 s in a
    quick local run. LEDGER_OUTAGE_S overrides."""
    if "LEDGER_OUTAGE_S" in os.environ:
        return float(os.environ["LEDGER_OUTAGE_S"])
    selected_slow = "slow" in (config.getoption("markexpr", "") or "").replace("not slow", "")
    return 30.0 if os.environ.get("CI") == "true" or selected_slow else 3.0


async def test_a_store_outage_under_load_loses_no_usage_row_and_writes_none_twice(
    tmp_path, aiohttp_server, redis_client, mysql_url, request
):
    outage_s = outage_seconds(request.config)
    print(f"store outage of {outage_s:g} s")  # noqa: T201 (shown with -s)
    await migrate_database(mysql_url, store_timeout=5)
    forwarder = Forwarder(mysql_url.port)
    await forwarder.start()
    upstream = ExactUpstream(hold=1)
    upstream_url = await _upstream(aiohttp_server, upstream)
    database = f"mysql://root@127.0.0.1:{forwarder.port}/{mysql_url.database}"
    try:
        env = {
            "USAGE_BUFFER_MAX": "20",  # a small buffer: the outage spills to Redis
            "STORE_TIMEOUT": "1",
            "AUTH_CACHE_TTL": "3600",
            "CONFIG_L1_TTL": "3600",
        }
        async with serving(tmp_path, database, **env) as url:
            headers = await _tenant(url, upstream_url)
            warm = await _post_all(url, headers, 40)  # both workers know the token
            assert warm == [200] * 40, warm
            await forwarder.cut()
            during: list[int] = []
            loop = asyncio.get_running_loop()
            ends = loop.time() + outage_s
            while loop.time() < ends:
                during += await _post_all(url, headers, 10)
            await forwarder.start()
            ok = warm.count(200) + during.count(200)
            assert during.count(200) >= 10 * outage_s / 2  # the outage did not stop serving
            await _reported(url, ok, 0, within=30)
            counters = await _settled_counters(url, redis_client, ok)
    finally:
        await forwarder.close()
    rows = mysql_admin(
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM usage_records", mysql_url.database
    )
    assert rows == [(ok, ok)]
    (daily,) = mysql_admin("SELECT SUM(requests) FROM usage_daily", mysql_url.database)
    assert int(daily[0]) == ok
    assert counters["spilled"] > 0 and counters["spilled"] == counters["replayed"]
    assert counters.get("dropped", 0) == 0 and counters["written"] == counters["produced"]


async def test_worker_recycling_writes_every_record_before_the_worker_exits(
    tmp_path, aiohttp_server, redis_client
):
    upstream = ExactUpstream(hold=1)
    upstream_url = await _upstream(aiohttp_server, upstream)
    database = f"sqlite:///{tmp_path}/store.db"
    # Each worker is replaced after 7 requests: its queue is written as it leaves.
    async with serving(tmp_path, database, PROXY_MAX_REQUESTS="7") as url:
        headers = await _tenant(url, upstream_url)
        statuses: list[int] = []
        async with asyncio.timeout(60):  # gunicorn checks max_requests once a second
            while _booted(tmp_path) < 4:  # the first two workers, and two replacements
                statuses += await _post_all(url, headers, 5)
        assert statuses == [200] * len(statuses)
        await _reported(url, len(statuses), 0)
        counters = await _settled_counters(url, redis_client, len(statuses))
    assert counters["produced"] == counters["written"] == len(statuses)


def _booted(directory: Path) -> int:
    return (directory / "err.log").read_text().count("Booting worker")
