"""Store fixtures: a SQLite file in tmp_path, a fresh MariaDB database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.database_url import MySQLURL, SQLiteURL, StoreURL
from proxy.keyring import KeyRing
from proxy.store.open import migrate_database, open_store
from proxy.store.sealed import SealedStore
from tests.conftest import mysql_admin  # noqa: F401  (tests import it from here too)

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
