"""The SQLite backend across processes: one file, several writers, a lock held too long."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time

import pytest

from proxy.errors import StoreUnavailableError
from proxy.keyring import KeyRing
from proxy.store import bounded
from proxy.store.backend import StoredTenant
from proxy.store.open import open_store
from proxy.store.sqlite import SQLiteBackend
from proxy.store.usage import UsageTable
from tests.store.conftest import ring
from tests.store.test_usage import row as usage_row

WORKER = """
import asyncio, sys
from proxy.errors import TenantExistsError
from proxy.keyring import KeyRing
from proxy.store import bounded
from proxy.store.backend import StoredTenant
from proxy.store.open import open_store
from proxy.store.sqlite import SQLiteBackend
from proxy.database_url import SQLiteURL

async def main(path, name):
    store = await open_store(SQLiteURL(path), KeyRing((("k", b"k" * 32),)), store_timeout=10)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    async def race(i):
        try:
            await store.create_tenant("race", {"by": name, "i": i})
            return "won"
        except TenantExistsError:
            return "lost"
    outcomes = await asyncio.gather(*(race(i) for i in range(10)))
    for i in range(100):
        await store.create_tenant(f"{name}-{i:03d}", {"default": {"api_key": f"sk-{name}-{i}"}})
    await store.close()
    print(outcomes.count("won"), outcomes.count("lost"))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO tenants VALUES ('locker', '{}', 1, 0, 0)")
sys.stdout.write("locked\\n"); sys.stdout.flush()
sys.stdin.readline()
conn.execute("ROLLBACK")
"""

OPENER = """
import asyncio, sys
from proxy.store.sqlite import SQLiteBackend

async def main():
    for line in sys.stdin:  # a new file's path: open it with the other processes
        try:
            backend = await SQLiteBackend.open(line.strip(), busy_timeout=5)
            await backend.close()
            sys.stdout.write("ok\\n")
        except Exception as e:
            sys.stdout.write(f"failed: {e}\\n")
        sys.stdout.flush()

asyncio.run(main())
"""


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )


@pytest.mark.slow
async def test_several_processes_share_one_new_file(sqlite_url):
    """Four processes create and migrate one new file at once, race one id, then write."""
    procs = [await _spawn(WORKER, sqlite_url.path, f"w{n}") for n in range(4)]
    for proc in procs:
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    for proc in procs:
        proc.stdin.write(b"go\n")
    outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    assert sum(won for won, _ in counts) == 1 and sum(lost for _, lost in counts) == 39
    store = await open_store(sqlite_url, KeyRing((("k", b"k" * 32),)), store_timeout=5)
    try:
        assert await store.count_tenants() == 401
        row = await store.get_tenant("w2-042")
        assert row is not None and row.document == {"default": {"api_key": "sk-w2-42"}}
    finally:
        await store.close()


@pytest.mark.slow
async def test_processes_opening_one_new_file_together_all_open_it(tmp_path):
    """Every worker of a server started on a new file boots: switching a new file to
    WAL, SQLite answers SQLITE_BUSY at once to all but one process (before the switch
    was retried, about 2 % of these opens failed: 8 expected in 400)."""
    openers = [await _spawn(OPENER) for _ in range(4)]
    answers = []
    try:
        for n in range(100):
            path = f"{tmp_path / f'new-{n}.db'}\n".encode()
            for opener in openers:
                opener.stdin.write(path)
            for opener in openers:
                answers.append(await asyncio.wait_for(opener.stdout.readline(), 30))
    finally:
        for opener in openers:
            opener.stdin.close()
            await opener.wait()
    assert answers == [b"ok\n"] * 400


async def test_a_file_locked_longer_than_the_timeout_is_unavailable_then_recovers(sqlite_url):
    store = await open_store(sqlite_url, ring("new"), store_timeout=0.5)
    locker = await _spawn(LOCKER, sqlite_url.path)
    try:
        assert await asyncio.wait_for(locker.stdout.readline(), 30) == b"locked\n"
        for attempt in (store.create_tenant("acme", {}), store.delete_tenant("x")):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as e:
                await attempt
            assert time.monotonic() - started < 1.5
            assert (e.value.status, e.value.code) == (503, "store_unavailable")
    finally:
        locker.stdin.write(b"release\n")
        await locker.communicate()
    try:
        await store.create_tenant("acme", {})
        assert (await store.get_tenant("acme")) is not None
        assert await store.get_tenant("locker") is None
    finally:
        await store.close()


async def test_a_cancelled_transaction_gives_the_lock_back_without_another_call(sqlite_url):
    """The write lock a cancelled `BEGIN IMMEDIATE` takes late is released at once, not
    when this worker next uses the store: another process's writer gets it."""
    backend = await SQLiteBackend.open(sqlite_url.path, busy_timeout=30)
    locker = await _spawn(LOCKER, sqlite_url.path)
    try:
        assert await asyncio.wait_for(locker.stdout.readline(), 30) == b"locked\n"
        with pytest.raises(StoreUnavailableError, match="did not answer"):
            await bounded(backend.delete_tenant("x", 0), 0.2, "delete")  # waits for the locker
    finally:
        locker.stdin.write(b"release\n")
        await locker.communicate()
    # The cancelled BEGIN now gets the lock in the backend's thread; nothing calls the
    # backend, yet another writer (waiting up to 20 s for the lock) gets through.
    await asyncio.to_thread(_write_elsewhere, sqlite_url.path, "other", 20.0)
    await backend.insert_tenant(StoredTenant("mine", "{}", 1, 0, 0))
    await backend.close()
    with sqlite3.connect(sqlite_url.path) as conn:
        ids = conn.execute("SELECT tenant_id FROM tenants ORDER BY tenant_id").fetchall()
    assert ids == [("mine",), ("other",)]


async def test_a_usage_batch_whose_caller_timed_out_ends_its_own_transaction(sqlite_url):
    """The ledger's batch runs whole on the connection's thread (aiosqlite's `_execute`):
    its caller gone (the store timeout), it still commits once the lock is free, and
    releases it with nothing else calling the backend; written again, it adds nothing."""
    backend = await SQLiteBackend.open(sqlite_url.path, busy_timeout=30)
    table = UsageTable(backend, timeout=0.2)
    batch = [usage_row("e1"), usage_row("e2")]
    locker = await _spawn(LOCKER, sqlite_url.path)
    try:
        assert await asyncio.wait_for(locker.stdout.readline(), 30) == b"locked\n"
        with pytest.raises(StoreUnavailableError, match="did not answer"):
            await table.write(batch, "b1")  # waits for the locker
    finally:
        locker.stdin.write(b"release\n")
        await locker.communicate()
    await asyncio.to_thread(_write_elsewhere, sqlite_url.path, "other", 20.0)
    assert await UsageTable(backend, timeout=5).write(batch, "b1") == 0
    (total,) = await UsageTable(backend, timeout=5).groups("acme", "2026-11-30", "2026-11-30", ())
    assert total.sums.requests == 2
    await backend.close()


async def test_a_usage_row_s_missing_values_are_stored_as_null(sqlite_url):
    """None is bound through the NoneType adapter this backend registers (it saves
    sqlite3's failed protocol lookups): still SQL NULL, never '' or 0 or 'None'."""
    backend = await SQLiteBackend.open(sqlite_url.path, busy_timeout=5)
    refused = {"status": 429, "attempts": 0, "forwarded": False, "refused": True}
    empty = {"input_tokens": None, "output_tokens": None, "cached_tokens": None}
    gone = {"upstream_model": None, "provider": None, "cost_micro": None, "upstream_ms": None}
    await UsageTable(backend, timeout=5).write([usage_row("e1", **refused, **empty, **gone)], "b1")
    await backend.close()
    nullable = [*empty, *gone, "error"]
    with sqlite3.connect(sqlite_url.path) as conn:
        stored = conn.execute(
            f"SELECT {', '.join(f'typeof({c})' for c in nullable)} FROM usage_records"
        ).fetchall()
    assert stored == [("null",) * len(nullable)]


def _write_elsewhere(path: str, tenant_id: str, busy_timeout: float) -> None:
    with sqlite3.connect(path, timeout=busy_timeout, isolation_level=None) as conn:
        conn.execute("INSERT INTO tenants VALUES (?, '{}', 1, 0, 0)", (tenant_id,))


async def test_a_closed_store_is_unavailable(sqlite_url):
    store = await open_store(sqlite_url, ring("new"), store_timeout=0.5)
    await store.close()
    with pytest.raises(StoreUnavailableError):
        await store.get_tenant("acme")


async def test_an_unwritable_path_is_unavailable(tmp_path):
    from proxy.database_url import SQLiteURL

    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailableError):
        await open_store(SQLiteURL(str(tmp_path / "file" / "t.db")), None, store_timeout=1)
