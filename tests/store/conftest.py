"""Store fixtures: a SQLite file in tmp_path, a fresh MariaDB database per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxy.keyring import KeyRing
from proxy.store.open import migrate_database, open_store
from proxy.store.sealed import SealedStore
from proxy.store.url import MySQLURL, SQLiteURL, StoreURL
from tests.conftest import _service_missing

MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
KEY_OLD = b"o" * 32
KEY_NEW = b"n" * 32


def ring(*kids: str) -> KeyRing:
    keys = {"old": KEY_OLD, "new": KEY_NEW}
    return KeyRing(tuple((kid, keys[kid]) for kid in kids))


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
def mysql_url() -> Iterator[MySQLURL]:
    """A new, empty database on the local MariaDB (no schema), dropped afterwards."""
    import pymysql

    name = f"tp_store_{secrets.token_hex(6)}"
    try:
        mysql_admin(f"CREATE DATABASE {name}")
    except (OSError, pymysql.MySQLError):
        _service_missing(f"MariaDB is not running on {MYSQL_HOST}:{MYSQL_PORT} (user root)")
    yield MySQLURL(MYSQL_HOST, MYSQL_PORT, "root", "", name)
    mysql_admin(f"DROP DATABASE IF EXISTS {name}")


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
