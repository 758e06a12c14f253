"""Store fixtures: a SQLite file in tmp_path, a fresh MariaDB database per test; helpers
that read every stored cell and fill a store under the old key."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.database_url import MySQLURL, SQLiteURL, StoreURL
from proxy.keyring import KeyRing
from proxy.store.open import migrate_database, open_store
from proxy.store.sealed import SealedStore
from tests.conftest import mysql_admin  # noqa: F401  (tests import it from here too)

CANARY = "sk-fake.canary-7c1e9b2f4d6a8e0c3b5d7f9a1c3e5b7d"
KEY_OLD = b"o" * 32
KEY_NEW = b"n" * 32


def ring(*kids: str) -> KeyRing:
    keys = {"old": KEY_OLD, "new": KEY_NEW}
    return KeyRing(tuple((kid, keys[kid]) for kid in kids))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> SQLiteURL:
    return SQLiteURL(str(tmp_path / "tenants.db"))


@pytest.fixture(params=["sqlite", "mysql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> StoreURL:
    """Each backend in turn (MySQL: an empty database, `db migrate` not yet run)."""
    if request.param == "sqlite":
        return SQLiteURL(str(tmp_path / "tenants.db"))
    url: MySQLURL = request.getfixturevalue("mysql_url")
    return url


@pytest.fixture
async def store(store_url: StoreURL) -> AsyncIterator[SealedStore]:
    """The store on each backend, schema in place, key ring `new,old`."""
    await migrate_database(store_url, store_timeout=5)
    opened = await open_store(store_url, ring("new", "old"), store_timeout=5)
    yield opened
    await opened.close()


def all_cells(url) -> list[str]:
    """Every value of every column of every table, as text."""
    if isinstance(url, SQLiteURL):
        with sqlite3.connect(url.path) as conn:
            tables = [
                t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            rows = [r for t in tables for r in conn.execute(f"SELECT * FROM {t}")]
    else:
        tables = [t for (t,) in mysql_admin("SHOW TABLES", url.database)]
        rows = [r for t in tables for r in mysql_admin(f"SELECT * FROM {t}", url.database)]
    assert {"tenants", "tokens", "schema_version"} <= set(tables)
    return [str(v) for row in rows for v in row]


async def fill_under_old(url, count: int) -> None:
    old = await open_store(url, ring("old"), store_timeout=5)
    try:
        for i in range(count):
            await old.create_tenant(
                f"t{i:03d}",
                {"models": [{"api_key": f"{CANARY}-{i}"}], "default": {"api_key": f"d-{i}"}},
            )
        await old.create_tenant("keyless", {"default": {"provider": "mock"}})
    finally:
        await old.close()
