"""Fixtures: the real app built from a config document, real upstreams on loopback."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.settings import Settings
from tests.helpers import ConfigAPIStub, GatewayTestServer, RecordingSink, Upstream, mint_jwt
from tests.redis_cluster import LocalCluster, cluster_binaries

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], str]:
    def write(doc: dict[str, Any]) -> str:
        path = tmp_path / "proxy.yaml"
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    return write


@pytest.fixture
async def upstream(aiohttp_server: Any) -> Upstream:
    up = Upstream()
    server = await aiohttp_server(up.app())
    up.url = str(server.make_url("")).rstrip("/")
    return up


MakeProxy = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_proxy(
    aiohttp_client: Any, write_config: Callable[[dict[str, Any]], str], sink: RecordingSink
) -> MakeProxy:
    """make_proxy(config_doc, **env) -> a test client of the gateway (static mode)."""

    async def make(doc: dict[str, Any], **env: str) -> TestClient:
        environ = {"PROXY_CONFIG": write_config(doc), "PROXY_REQUEST_LOG": "0", **env}
        app = await create_app(Settings.from_env(environ), sinks=[sink])
        return await aiohttp_client(GatewayTestServer(app))

    return make


def openai_route(url: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {
        "model_name": model,
        "provider": "openai",
        "api_base": url,
        "api_key": "sk-route-key-0001",
        **extra,
    }


JWT_SECRET = "test-jwt-secret-0123456789abcdef"
ENCRYPTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 test bytes
# TEST_REDIS_URL lets parallel checkouts test against separate databases.
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@dataclass(frozen=True)
class RedisTarget:
    """Where the Redis-backed tests run: the local Redis (TEST_REDIS_URL) or the
    session's local Redis Cluster (tests/redis_cluster.py)."""

    url: str
    cluster: bool = False

    @property
    def env(self) -> dict[str, str]:
        """The gateway's environment for this Redis."""
        return {"REDIS_URL": self.url, **({"REDIS_CLUSTER": "1"} if self.cluster else {})}

    def client(self) -> Any:
        from redis.asyncio import Redis, RedisCluster

        kind = RedisCluster if self.cluster else Redis
        return kind.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local 3-master Redis Cluster for the session (started on first use)."""
    binaries = cluster_binaries()
    if binaries is None:
        _service_missing("redis-server and redis-cli are needed for the Redis Cluster tests")
    assert binaries is not None
    cluster = LocalCluster.start(tmp_path_factory.mktemp("redis-cluster"), binaries)
    yield cluster
    cluster.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses Redis runs on one Redis and on a Redis Cluster, except
    those marked `one_redis` (they reach one Redis through a relay or with a password)."""
    if "redis_target" in metafunc.fixturenames:
        kinds = ["redis"] if metafunc.definition.get_closest_marker("one_redis") else None
        metafunc.parametrize("redis_target", kinds or ["redis", "cluster"], indirect=True)


@pytest.fixture
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """The test's Redis: see pytest_generate_tests."""
    if request.param == "cluster":
        return RedisTarget(request.getfixturevalue("redis_cluster").url, cluster=True)
    return RedisTarget(REDIS_TEST_URL)


@pytest.fixture
async def redis_client(redis_target: RedisTarget):
    """A client of the test's Redis (or cluster), emptied before and after the test."""
    from redis.exceptions import RedisClusterException, RedisError

    client = redis_target.client()
    try:
        await client.ping()
    except (RedisError, RedisClusterException, OSError):
        await client.aclose()
        _service_missing(f"Redis is not answering at {redis_target.url}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def config_api(aiohttp_server: Any) -> ConfigAPIStub:
    api = ConfigAPIStub()
    server = await aiohttp_server(api.app())
    api.url = str(server.make_url("")).rstrip("/")
    return api


def tenant_doc(upstream_url: str, key: str = "sk-tenant-key-0001", **extra: Any) -> dict[str, Any]:
    return {"models": [openai_route(upstream_url, api_key=key)], **extra}


@pytest.fixture
def mt_env(
    redis_target: RedisTarget, redis_client: Any, config_api: ConfigAPIStub
) -> dict[str, str]:
    """Environment for multi-tenant mode against the test Redis and Config API."""
    return {
        **redis_target.env,
        "CONFIG_API_URL": config_api.url,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PROXY_ADMIN_KEY": "admin-key-for-tests",
        "UPSTREAM_ALLOW_PRIVATE": "1",  # test upstreams live on loopback
        "PROXY_REQUEST_LOG": "0",
        "REDIS_TIMEOUT": "0.3",
        "PROXY_GRACEFUL_TIMEOUT": "2",
    }


@pytest.fixture
def make_mt_proxy(aiohttp_client: Any, sink: RecordingSink, mt_env: dict[str, str]):
    """make_mt_proxy(**env) -> a test client of the gateway in multi-tenant mode."""

    async def make(dns_resolver: Any = None, **env: str) -> TestClient:
        settings = Settings.from_env({**mt_env, **env})
        app = await create_app(settings, sinks=[sink], dns_resolver=dns_resolver)
        return await aiohttp_client(GatewayTestServer(app))

    return make


def bearer(user_id: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_jwt(user_id, JWT_SECRET, **claims)}


@pytest.fixture
async def receiver(aiohttp_server: Any):
    from tests.helpers import WebhookReceiver

    hook = WebhookReceiver()
    server = await aiohttp_server(hook.app())
    hook.url = str(server.make_url("/events"))
    yield hook
    if hook.hang is not None:
        hook.hang.set()


# The local MariaDB (SPEC 7: the shared tenant store; tests make their own databases).
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))


def mysql_admin(sql: str, database: str | None = None) -> list[tuple[object, ...]]:
    """Run one statement as root on the local MariaDB (synchronously, for fixtures)."""
    import pymysql

    conn = pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user="root",
        password="",
        database=database,
        connect_timeout=2,
        autocommit=True,
        charset="utf8mb4",
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def mysql_url():
    """A new, empty database `tp_store_<random>` on the local MariaDB, dropped afterwards."""
    import pymysql

    from proxy.database_url import MySQLURL

    name = f"tp_store_{secrets.token_hex(6)}"
    try:
        mysql_admin(f"CREATE DATABASE {name}")
    except (OSError, pymysql.MySQLError):
        _service_missing(f"MariaDB is not running on {MYSQL_HOST}:{MYSQL_PORT} (user root)")
    yield MySQLURL(MYSQL_HOST, MYSQL_PORT, "root", "", name)
    drop_mysql_database(name)


def drop_mysql_database(name: str) -> None:
    """Drop a test's database, first ending any session still in it: a connection a
    test's closed event loop abandoned mid-transaction holds a metadata lock, and
    MariaDB's DROP would wait on it for `lock_wait_timeout` (a day by default)."""
    import pymysql

    sessions = mysql_admin(
        f"SELECT id FROM information_schema.processlist WHERE db = '{name}'"
        " AND id <> CONNECTION_ID()"
    )
    for (session,) in sessions:
        with contextlib.suppress(pymysql.MySQLError):  # it may have ended meanwhile
            mysql_admin(f"KILL {session}")
    mysql_admin(f"DROP DATABASE IF EXISTS {name}")
