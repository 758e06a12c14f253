"""Schema versions: fresh to latest, idempotent, SQLite upgraded at open, MySQL checked."""

from __future__ import annotations

import sqlite3

import aiosqlite
import pytest

from proxy.database_url import SQLiteURL
from proxy.store import StoreSetupError
from proxy.store.migrations import SCHEMA_VERSION, SQLITE_STEPS, migrate_sqlite
from proxy.store.open import migrate_database, open_store
from tests.store.conftest import mysql_admin, ring


def _sqlite_version(path: str) -> list[tuple[int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version FROM schema_version").fetchall()


async def test_an_older_sqlite_file_is_migrated_at_open(tmp_path):
    for applied in range(SCHEMA_VERSION):  # every older version this build knows, a file each
        url = SQLiteURL(str(tmp_path / f"v{applied}.db"))
        async with aiosqlite.connect(url.path, isolation_level=None) as db:
            await migrate_sqlite(db, SQLITE_STEPS[:applied])
        assert _sqlite_version(url.path) == [(applied,)]
        store = await open_store(url, ring("new"), store_timeout=5)
        await store.create_tenant(f"t{applied}", {})
        await store.close()
        assert _sqlite_version(url.path) == [(SCHEMA_VERSION,)]


async def test_a_later_sqlite_step_runs_once_on_a_file_with_data(sqlite_url):
    store = await open_store(sqlite_url, ring("new"), store_timeout=5)
    await store.create_tenant("kept", {"a": 1})
    await store.close()
    extra = (*SQLITE_STEPS, ("CREATE TABLE IF NOT EXISTS later (x INTEGER)",))
    async with aiosqlite.connect(sqlite_url.path, isolation_level=None) as db:
        assert await migrate_sqlite(db, extra) == (SCHEMA_VERSION, SCHEMA_VERSION + 1)
        assert await migrate_sqlite(db, extra) == (SCHEMA_VERSION + 1,) * 2
    assert _sqlite_version(sqlite_url.path) == [(SCHEMA_VERSION + 1,)]
    with pytest.raises(StoreSetupError, match="newer than this build"):
        await open_store(sqlite_url, ring("new"), store_timeout=5)


async def test_mysql_migrate_is_fresh_then_idempotent(mysql_url):
    assert await migrate_database(mysql_url, store_timeout=5) == (0, SCHEMA_VERSION)
    assert await migrate_database(mysql_url, store_timeout=5) == (SCHEMA_VERSION,) * 2
    db = mysql_url.database
    assert mysql_admin("SELECT version FROM schema_version", db) == [(SCHEMA_VERSION,)]
    tables = {t for (t,) in mysql_admin("SHOW TABLES", db)}
    assert tables == {"schema_version", "tenants", "tokens", "usage_records", "usage_daily"}


async def test_migrate_does_not_create_a_missing_mysql_database(mysql_url):
    from dataclasses import replace

    missing = replace(mysql_url, database=mysql_url.database + "_missing")
    for attempt in (
        migrate_database(missing, store_timeout=5),
        open_store(missing, None, store_timeout=5),
    ):
        with pytest.raises(StoreSetupError) as e:
            await attempt
        assert f"{missing.database!r}, which does not exist" in str(e.value)
    assert mysql_admin(f"SHOW DATABASES LIKE '{missing.database}'") == []


async def test_a_mysql_schema_at_version_1_is_upgraded_keeping_its_tenants(mysql_url):
    from proxy.store.migrations import MYSQL_STEPS, migrate_mysql
    from proxy.store.mysql import connect

    conn = await connect(mysql_url, connect_timeout=5)
    try:
        assert await migrate_mysql(conn, MYSQL_STEPS[:1]) == (0, 1)
    finally:
        conn.close()
    with pytest.raises(StoreSetupError, match="run `tenant-proxy db migrate`"):
        await open_store(mysql_url, ring("new"), store_timeout=5)
    mysql_admin("INSERT INTO tenants VALUES ('kept', '{}', 1, 0, 0)", mysql_url.database)
    assert await migrate_database(mysql_url, store_timeout=5) == (1, SCHEMA_VERSION)
    store = await open_store(mysql_url, ring("new"), store_timeout=5)
    try:
        assert (await store.get_tenant("kept")) is not None
    finally:
        await store.close()
