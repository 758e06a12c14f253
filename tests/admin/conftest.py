"""The gateway in built-in-store mode, on each backend: SQLite file, then MariaDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.app import create_app
from proxy.database_url import MySQLURL
from proxy.settings import Settings
from proxy.store.open import migrate_database
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import GatewayTestServer

ADMIN_KEY = "admin-key-for-store-tests"
ADMIN = {"Authorization": "Bearer " + ADMIN_KEY}


def mysql_database_url(url: MySQLURL) -> str:
    return f"mysql://{url.user}@{url.host}:{url.port}/{url.database}"


@pytest.fixture(params=["sqlite", "mysql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A DATABASE_URL on each backend (MySQL: a private database, migrated)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tenants.db"
    url: MySQLURL = request.getfixturevalue("mysql_url")
    await migrate_database(url, store_timeout=5)
    return mysql_database_url(url)


@pytest.fixture
def store_env(database_url: str) -> dict[str, str]:
    """Built-in-store mode without Redis (tests that need Redis add REDIS_URL)."""
    return {
        "DATABASE_URL": database_url,
        "PROXY_ADMIN_KEY": ADMIN_KEY,
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "UPSTREAM_ALLOW_PRIVATE": "1",
        "PROXY_REQUEST_LOG": "0",
        "PROXY_GRACEFUL_TIMEOUT": "2",
    }


@pytest.fixture
def make_store_proxy(aiohttp_client: Any, sink: Any, store_env: dict[str, str]):
    """make_store_proxy(**env) -> a test client of the gateway in built-in-store mode."""

    async def make(**env: str):
        app = await create_app(Settings.from_env({**store_env, **env}), sinks=[sink])
        return await aiohttp_client(GatewayTestServer(app))

    return make


@pytest.fixture
async def gateway(make_store_proxy):
    return await make_store_proxy()
