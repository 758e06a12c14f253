"""open_store and migrate_database: SQLite created and migrated, MySQL's schema checked in
one line, both bounded by the store timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from proxy.database_url import MySQLURL
from proxy.errors import StoreUnavailableError
from proxy.store import StoreSetupError
from proxy.store.migrations import SCHEMA_VERSION
from proxy.store.open import migrate_database, open_store
from tests.store.conftest import mysql_admin, ring

RUN_MIGRATE = "run `tenant-proxy db migrate`"


def _sqlite_version(path: str) -> list[tuple[int]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version FROM schema_version").fetchall()


async def test_sqlite_is_created_and_migrated_on_first_open(sqlite_url):
    store = await open_store(sqlite_url, ring("new"), store_timeout=5)
    await store.close()
    assert _sqlite_version(sqlite_url.path) == [(SCHEMA_VERSION,)]
    with sqlite3.connect(sqlite_url.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert await migrate_database(sqlite_url, store_timeout=5) == (SCHEMA_VERSION,) * 2


async def test_mysql_start_refuses_a_missing_older_or_newer_schema(mysql_url):
    with pytest.raises(StoreSetupError) as e:
        await open_store(mysql_url, ring("new"), store_timeout=5)
    assert str(e.value).endswith(RUN_MIGRATE) and "\n" not in str(e.value)
    assert mysql_admin("SHOW TABLES", mysql_url.database) == []  # nothing created at start
    await migrate_database(mysql_url, store_timeout=5)
    mysql_admin("UPDATE schema_version SET version = 0", mysql_url.database)
    with pytest.raises(StoreSetupError) as e:
        await open_store(mysql_url, ring("new"), store_timeout=5)
    assert f"is at version 0, this build needs {SCHEMA_VERSION}: {RUN_MIGRATE}" in str(e.value)
    mysql_admin("UPDATE schema_version SET version = 99", mysql_url.database)
    with pytest.raises(StoreSetupError, match="newer than this build"):
        await open_store(mysql_url, ring("new"), store_timeout=5)
    mysql_admin(f"UPDATE schema_version SET version = {SCHEMA_VERSION}", mysql_url.database)
    store = await open_store(mysql_url, ring("new"), store_timeout=5)
    await store.ping()
    await store.close()


async def test_a_server_that_accepts_and_never_answers(mysql_url):
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = MySQLURL("127.0.0.1", port, "root", "", mysql_url.database)
    try:
        for attempt in (
            open_store(url, ring("new"), store_timeout=0.5),
            migrate_database(url, store_timeout=0.5),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                await attempt
            assert time.monotonic() - started < 1.5
        assert accepted
    finally:
        for writer in accepted:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


async def test_the_timeout_names_the_store_without_its_password():
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = MySQLURL("127.0.0.1", port, "tp", "hunter2-secret", "tenants")
    try:
        with pytest.raises(StoreUnavailableError) as e:
            await open_store(url, None, store_timeout=0.3)
        assert e.value.status == 503
        assert "did not answer within 0.3 s" in e.value.message
        assert f"127.0.0.1:{port}" in e.value.message and "hunter2" not in e.value.message
    finally:
        for writer in accepted:
            writer.transport.abort()
        server.close()
        await server.wait_closed()
