"""The usage ledger's tables on both backends: idempotent batches, rollups counted once."""

from __future__ import annotations

import sqlite3
from typing import Any

from proxy.database_url import SQLiteURL, StoreURL
from proxy.store.usage import UsageRow, UsageSums, UsageTable
from tests.store.conftest import mysql_admin


def row(event_id: str, *, day: str = "2026-11-30", model: str = "m", **over) -> UsageRow:
    values = {
        "event_id": event_id,
        "tenant_id": "acme",
        "day": day,
        "ts_ms": 1,
        "request_id": "req",
        "model": model,
        "upstream_model": model,
        "provider": "mock",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "error": None,
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_tokens": 2,
        "cost_micro": 7,
        "duration_ms": 1.5,
        "upstream_ms": 1.0,
        "stream": False,
        "usage_estimated": False,
        "attempts": 1,
        "forwarded": True,
        "refused": False,
        "unpriced": False,
    }
    return UsageRow(**{**values, **over})


REFUSED = {"status": 429, "attempts": 0, "forwarded": False, "refused": True}
NO_TOKENS = {"input_tokens": None, "output_tokens": None, "cached_tokens": None}


async def test_a_batch_written_twice_counts_once(store, store_url):
    table = UsageTable(store.backend, timeout=5)
    batch = [row("e1"), row("e2"), row("e3", **REFUSED, **NO_TOKENS, cost_micro=None)]
    assert await table.write(batch, "b1") == 3
    assert await table.write(batch, "b1") == 0  # a retry of a write that had committed
    assert await table.write([row("e4", model="other")], "b2") == 1
    (total,) = await table.groups("acme", "2026-11-01", "2026-11-30", ())
    assert total.sums == UsageSums(3, 30, 15, 6, 21, 0, 1)
    assert stored_ids(store_url) == ["e1", "e2", "e3", "e4"]


def select(url: StoreURL, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(url, SQLiteURL):
        with sqlite3.connect(url.path) as conn:
            return conn.execute(sql).fetchall()
    return [tuple(r) for r in mysql_admin(sql, url.database)]


def stored_ids(url: StoreURL) -> list[str]:
    """The event ids `usage_records` (a view of every batch's rows) shows."""
    return [r[0] for r in select(url, "SELECT event_id FROM usage_records ORDER BY event_id")]


async def test_groups_by_day_model_and_both(store):
    table = UsageTable(store.backend, timeout=5)
    await table.write(
        [
            row("a", day="2026-11-01"),
            row("b", day="2026-11-02", model="x"),
            row("c", day="2026-11-02", model="", cost_micro=None, unpriced=True),
            row("d", day="2026-12-01"),
        ],
        "b1",
    )
    by_day = await table.groups("acme", "2026-11-01", "2026-11-30", ("day",))
    assert sorted((g.day, g.sums.requests) for g in by_day) == [
        ("2026-11-01", 1),
        ("2026-11-02", 2),
    ]
    by_model = await table.groups("acme", "2026-11-02", "2026-11-02", ("model",))
    assert sorted((g.model, g.sums.cost_micro, g.sums.unpriced_requests) for g in by_model) == [
        ("", 0, 1),
        ("x", 7, 0),
    ]
    both = await table.groups("acme", "2026-11-01", "2026-12-31", ("day", "model"))
    assert len(both) == 4
    assert await table.has_usage("acme") and not await table.has_usage("nobody")


async def test_a_large_batch_is_one_row_of_usage_batches_and_reads_back_whole(store, store_url):
    """600 rows in one write: one row of usage_batches, every row and value back
    through the usage_records view (NULLs as NULL, flags as 0/1)."""
    table = UsageTable(store.backend, timeout=5)
    first = [row(f"e{i:03d}") for i in range(600)]
    first[7] = row("e007", **REFUSED, **NO_TOKENS, cost_micro=None, upstream_ms=None)
    assert await table.write(first, "big") == 600
    by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
    assert [g.sums for g in by_model] == [UsageSums(599, 5990, 2995, 1198, 4193, 0, 1)]
    assert select(store_url, "SELECT batch_id, row_count FROM usage_batches") == [("big", 600)]
    columns = ", ".join(UsageRow._fields)
    stored = select(store_url, f"SELECT {columns} FROM usage_records ORDER BY event_id")
    assert [UsageRow(*r) for r in stored] == first  # bools compare equal to 0/1


async def test_rows_spilled_before_version_4_are_written_once_each(store, store_url):
    """Rows a worker from before schema version 4 spilled one by one: idempotent on
    each event id (one of them spilled twice, one written again later), and exactly
    the new ones added to the rollups."""
    table = UsageTable(store.backend, timeout=5)
    assert await table.write_rows([row("a"), row("b"), row("a")]) == 2
    assert await table.write_rows([row("a"), row("c", model="other")]) == 1
    assert await table.write_rows([]) == 0
    by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
    assert sorted((g.model, g.sums) for g in by_model) == [
        ("m", UsageSums(2, 20, 10, 4, 14, 0, 0)),
        ("other", UsageSums(1, 10, 5, 2, 7, 0, 0)),
    ]
    assert stored_ids(store_url) == ["a", "b", "c"]
    assert select(store_url, "SELECT COUNT(*) FROM usage_batches") == [(0,)]


async def test_the_usage_records_view_tells_tenant_ids_and_models_apart_by_case(store, store_url):
    """Tenant ids are case-sensitive: a query of tenant acme's rows does not return
    tenant Acme's, from a batch as from a row written before version 4."""
    table = UsageTable(store.backend, timeout=5)
    await table.write([row("e1"), row("e2", tenant_id="Acme", model="M")], "b1")
    await table.write_rows([row("e3", tenant_id="Acme")])
    found = select(store_url, "SELECT event_id FROM usage_records WHERE tenant_id = 'acme'")
    assert [tuple(r) for r in found] == [("e1",)]
    models = select(store_url, "SELECT DISTINCT model FROM usage_records ORDER BY model")
    assert [tuple(r) for r in models] == [("M",), ("m",)]


async def test_a_batch_waiting_on_its_earlier_try_does_not_lock_the_table(mysql_url):
    """MySQL: a retried batch whose earlier try is still open on the server waits for
    it; another worker's batch meanwhile is written at once (the waiting insert holds
    no table-wide AUTO-INC lock), and the retry then counts once. (Its wait does lock
    the gap below its id in the unique index: a batch id falling there, about 1 in the
    number of stored batches, waits too.)"""
    import asyncio

    from proxy.store.mysql import connect
    from proxy.store.open import migrate_database, open_store
    from proxy.store.usage import MYSQL, batch_args
    from tests.store.conftest import ring

    await migrate_database(mysql_url, store_timeout=5)
    store = await open_store(mysql_url, ring("new"), store_timeout=60)
    earlier = await connect(mysql_url, connect_timeout=5)
    try:
        table = UsageTable(store.backend, timeout=60)
        await earlier.begin()  # the first try: committed later, its client long gone
        async with earlier.cursor() as cur:
            await cur.execute(MYSQL.insert(), batch_args([row("r1")], "r" * 16, 1))
        retry = asyncio.ensure_future(table.write([row("r1")], "r" * 16))
        waiting = (  # the retry's insert, under way: it cannot end before the first try
            "SELECT COUNT(*) FROM information_schema.processlist "
            f"WHERE info LIKE 'INSERT INTO usage_batches %{'r' * 16}%'"
        )
        deadline = asyncio.get_running_loop().time() + 10
        while mysql_admin(waiting) == [(0,)]:
            assert asyncio.get_running_loop().time() < deadline, "the retry never reached MySQL"
            await asyncio.sleep(0.01)
        other = table.write([row("s1")], "s" * 16)  # above the waiting id: not its gap
        assert await asyncio.wait_for(other, 2) == 1
        assert not retry.done()
        await earlier.commit()
        assert await retry == 0
    finally:
        earlier.close()
        await store.close()
    assert stored_ids(mysql_url) == ["r1", "s1"]
