"""Schema versions: fresh to latest, idempotent, SQLite upgraded at open, MySQL checked."""

from __future__ import annotations

import sqlite3

import aiosqlite
import pytest

from proxy.database_url import SQLiteURL, StoreURL
from proxy.store import StoreSetupError
from proxy.store.migrations import (
    MYSQL_STEPS,
    SCHEMA_VERSION,
    SQLITE_STEPS,
    migrate_mysql,
    migrate_sqlite,
)
from proxy.store.open import migrate_database, open_store
from proxy.store.usage import (
    MYSQL,
    ROLLUP_WIDTH,
    SQLITE,
    UsageRow,
    UsageSums,
    UsageTable,
    batch_args,
    rollup_groups,
)
from tests.store.conftest import mysql_admin, ring
from tests.store.test_usage import row, select, stored_ids


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
    assert tables == {
        "schema_version", "tenants", "tokens", "usage_records", "usage_records_v3",
        "usage_batches", "usage_batches_v4", "usage_daily",
    }  # fmt: skip


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


def _usage_rows() -> list[UsageRow]:
    base = row("v2-a")
    return [base, base._replace(event_id="v2-b", model="other", cost_micro=None, unpriced=True)]


def _v2_insert(placeholder: str, count: int) -> str:
    """How versions 2 and 3 stored usage: a row each in the usage_records table."""
    columns = ("batch_id", *UsageRow._fields)
    one = "(" + ", ".join([placeholder] * len(columns)) + ")"
    return f"INSERT INTO usage_records ({', '.join(columns)}) VALUES {', '.join([one] * count)}"


def _v2_args(rows: list[UsageRow]) -> list[object]:
    return [value for r in rows for value in ("b" * 16, *r)]


async def _write_usage_at_v2(url: StoreURL) -> None:
    """A v2 database holding two usage rows and their rollups, written as v2 wrote them."""
    rows = _usage_rows()
    groups = rollup_groups(rows)
    if isinstance(url, SQLiteURL):
        async with aiosqlite.connect(url.path, isolation_level=None) as db:
            assert await migrate_sqlite(db, SQLITE_STEPS[:2]) == (0, 2)
            await db.execute(_v2_insert("?", len(rows)), _v2_args(rows))
            await db.execute(SQLITE.upsert(len(groups) // ROLLUP_WIDTH), groups)
        return
    from proxy.store.mysql import connect

    conn = await connect(url, connect_timeout=5)
    try:
        assert await migrate_mysql(conn, MYSQL_STEPS[:2]) == (0, 2)
        async with conn.cursor() as cur:
            await cur.execute(_v2_insert("%s", len(rows)), _v2_args(rows))
            await cur.execute(MYSQL.upsert(len(groups) // ROLLUP_WIDTH), groups)
    finally:
        conn.close()


async def _migrate_to(url: StoreURL, version: int) -> None:
    if isinstance(url, SQLiteURL):
        async with aiosqlite.connect(url.path, isolation_level=None) as db:
            await migrate_sqlite(db, SQLITE_STEPS[:version])
        return
    from proxy.store.mysql import connect

    conn = await connect(url, connect_timeout=5)
    try:
        await migrate_mysql(conn, MYSQL_STEPS[:version])
    finally:
        conn.close()


def _usage_indexes(url: StoreURL) -> set[str]:
    if isinstance(url, SQLiteURL):
        with sqlite3.connect(url.path) as conn:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            return {name for (name,) in conn.execute(sql, ("usage_records",))}
    return {str(r[2]) for r in mysql_admin("SHOW INDEX FROM usage_records", url.database)}


async def test_v3_drops_the_unread_usage_indexes(store_url):
    await _write_usage_at_v2(store_url)
    assert {"usage_records_by_tenant", "usage_records_by_batch"} <= _usage_indexes(store_url)
    await _migrate_to(store_url, 3)
    assert not {"usage_records_by_tenant", "usage_records_by_batch"} & _usage_indexes(store_url)


async def test_v4_keeps_earlier_rows_readable_known_and_counted(store_url):
    """Rows written one by one before version 4 stay in the rollups, in the
    usage_records view beside the new batches' rows, and known by event id (a spilled
    row of an earlier worker is not stored twice)."""
    await _write_usage_at_v2(store_url)
    assert await migrate_database(store_url, store_timeout=5) == (2, SCHEMA_VERSION)
    store = await open_store(store_url, ring("new"), store_timeout=5)
    try:
        table = UsageTable(store.backend, timeout=5)
        # An earlier worker's spill: v2-a again (stored already), and a row it never wrote.
        assert await table.write_rows([row("v2-a"), row("v4-d")]) == 1
        assert await table.write([row("v4-c")], "c" * 16) == 1
        by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
        assert sorted((g.model, g.sums) for g in by_model) == [
            ("m", UsageSums(3, 30, 15, 6, 21, 0, 0)),
            ("other", UsageSums(1, 10, 5, 2, 0, 1, 0)),
        ]
    finally:
        await store.close()
    assert stored_ids(store_url) == ["v2-a", "v2-b", "v4-c", "v4-d"]
    costs = select(store_url, "SELECT event_id, cost_micro FROM usage_records ORDER BY event_id")
    assert [tuple(c) for c in costs] == [("v2-a", 7), ("v2-b", None), ("v4-c", 7), ("v4-d", 7)]


async def test_v4_on_mysql_runs_again_cleanly(mysql_url):
    """MySQL's DDL is not transactional: step 4 cut short after its rename re-runs."""
    from proxy.store.mysql import connect

    await _write_usage_at_v2(mysql_url)
    conn = await connect(mysql_url, connect_timeout=5)
    try:
        partial = (*MYSQL_STEPS[:3], MYSQL_STEPS[3][:-1])  # the view not made yet
        assert await migrate_mysql(conn, partial) == (2, 4)
        mysql_admin("UPDATE schema_version SET version = 3", mysql_url.database)
        assert await migrate_mysql(conn, MYSQL_STEPS[:4]) == (3, 4)
        again = (*MYSQL_STEPS[:4], MYSQL_STEPS[3])
        assert await migrate_mysql(conn, again) == (4, 5)
    finally:
        conn.close()
    assert stored_ids(mysql_url) == ["v2-a", "v2-b"]


async def test_v3_runs_again_cleanly_once_the_index_is_gone(store_url):
    """A step cut short re-runs: v3 on a database that already lost the index."""
    await migrate_database(store_url, store_timeout=5)
    if isinstance(store_url, SQLiteURL):
        async with aiosqlite.connect(store_url.path, isolation_level=None) as db:
            again = (*SQLITE_STEPS, SQLITE_STEPS[2])
            assert await migrate_sqlite(db, again) == (SCHEMA_VERSION, SCHEMA_VERSION + 1)
    else:
        from proxy.store.mysql import connect

        conn = await connect(store_url, connect_timeout=5)
        try:
            again = (*MYSQL_STEPS, MYSQL_STEPS[2])
            assert await migrate_mysql(conn, again) == (SCHEMA_VERSION, SCHEMA_VERSION + 1)
        finally:
            conn.close()
    assert not {"usage_records_by_tenant", "usage_records_by_batch"} & _usage_indexes(store_url)


async def _write_batch_at_v4(url: StoreURL, rows: list[UsageRow], batch_id: str) -> None:
    """A version 4 database holding one batch and its rollups, written as version 4
    wrote them (into the usage_batches of that version)."""
    await _migrate_to(url, 4)
    p = "?" if isinstance(url, SQLiteURL) else "%s"
    insert = f"INSERT INTO usage_batches (batch_id, written_ms, row_count, records) VALUES ({p}, {p}, {p}, {p})"
    args = batch_args(rows, batch_id, 1)
    groups = rollup_groups(rows)
    dialect = SQLITE if isinstance(url, SQLiteURL) else MYSQL
    upsert = dialect.upsert(len(groups) // ROLLUP_WIDTH)
    if isinstance(url, SQLiteURL):
        async with aiosqlite.connect(url.path, isolation_level=None) as db:
            await db.execute(insert, args)
            await db.execute(upsert, groups)
        return
    from proxy.store.mysql import connect

    conn = await connect(url, connect_timeout=5)
    try:
        async with conn.cursor() as cur:
            await cur.execute(insert, args)
            await cur.execute(upsert, groups)
    finally:
        conn.close()


async def test_v5_keeps_earlier_batches_readable_known_and_counted(store_url):
    """Batches stored before version 5 stay in the rollups and in the usage_records
    view beside the new ones, and a batch stored before the upgrade that comes back
    after it (a spilled batch replayed, a retried write) is not stored twice."""
    before = [row("v4-a"), row("v4-b", model="other")]
    await _write_batch_at_v4(store_url, before, "4" * 16)
    assert await migrate_database(store_url, store_timeout=5) == (4, SCHEMA_VERSION)
    store = await open_store(store_url, ring("new"), store_timeout=5)
    try:
        table = UsageTable(store.backend, timeout=5)
        assert await table.write(before, "4" * 16) == 0  # known: stored before the upgrade
        assert await table.write([row("v5-c")], "5" * 16) == 1
        assert await table.write([row("v5-c")], "5" * 16) == 0
        by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
        assert sorted((g.model, g.sums.requests, g.sums.cost_micro) for g in by_model) == [
            ("m", 2, 14),
            ("other", 1, 7),
        ]
    finally:
        await store.close()
    assert stored_ids(store_url) == ["v4-a", "v4-b", "v5-c"]
    assert select(store_url, "SELECT batch_id FROM usage_batches") == [("5" * 16,)]
    assert select(store_url, "SELECT batch_id FROM usage_batches_v4") == [("4" * 16,)]


async def test_v5_on_mysql_runs_again_cleanly(mysql_url):
    """Step 5 cut short after its rename re-runs, and a whole re-run changes nothing."""
    from proxy.store.mysql import connect

    await _write_batch_at_v4(mysql_url, [row("v4-a")], "4" * 16)
    conn = await connect(mysql_url, connect_timeout=5)
    try:
        renamed_only = (*MYSQL_STEPS[:4], MYSQL_STEPS[4][:4])  # the _run_if's statements
        assert await migrate_mysql(conn, renamed_only) == (4, 5)
        assert mysql_admin("SHOW TABLES LIKE 'usage_batches'", mysql_url.database) == []
        mysql_admin("UPDATE schema_version SET version = 4", mysql_url.database)
        assert await migrate_mysql(conn, MYSQL_STEPS) == (4, 5)
        again = (*MYSQL_STEPS, MYSQL_STEPS[4])
        assert await migrate_mysql(conn, again) == (5, 6)
    finally:
        conn.close()
    assert stored_ids(mysql_url) == ["v4-a"]
    assert select(mysql_url, "SELECT COUNT(*) FROM usage_batches_v4") == [(1,)]
