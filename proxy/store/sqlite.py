"""The embedded backend: one SQLite file (aiosqlite), shared by every worker on a host.

WAL mode lets readers run beside the one writer; `busy_timeout` makes a writer wait
for another process's lock up to the store timeout, then fail as
`StoreUnavailableError`. One connection per process, used by one operation at a
time (an asyncio lock), so a transaction never interleaves with another coroutine's
statements. The file is created and migrated at open.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from proxy.errors import StoreUnavailableError, TenantChangedError, TenantExistsError
from proxy.store.backend import TENANT_COLUMNS, TOKEN_COLUMNS, StoredTenant, StoredToken
from proxy.store.migrations import migrate_sqlite
from proxy.store.usage import (
    ROLLUP_WIDTH,
    SQLITE,
    Row,
    batch_args,
    rollup_args,
    rollup_groups,
    rows_args,
)

T = TypeVar("T")
_INSERT = SQLITE.insert()
_KNOWN_V4 = SQLITE.known_v4()
_WAL_RETRY_S = 0.01  # between tries of the switch to WAL (_enter_wal)

# sqlite3 binds None through its adapter protocol: with no adapter registered for
# NoneType it asks the protocol and the value for `__adapt__`/`__conform__` (two failed
# attribute lookups, each raising and clearing an AttributeError) before it falls back
# to None, about three times the cost of binding an int. A usage row carries several
# NULLs. Registered, the adapter is found at once: `{}.get(None)` is None, a C call, and
# None is still bound as NULL (for every sqlite3 user in the process: it changes no value).
sqlite3.register_adapter(type(None), {}.get)  # type: ignore[arg-type]  # dict.get: overloaded


def _unavailable(e: Exception) -> StoreUnavailableError:
    return StoreUnavailableError(f"the tenant store (SQLite) failed: {e}")


class SQLiteBackend:
    def __init__(self, db: aiosqlite.Connection, migrated: tuple[int, int]) -> None:
        self._db = db
        self._serial = _Serial(db)
        self.migrated = migrated  # (schema version found, version now)

    @classmethod
    async def open(cls, path: str, *, busy_timeout: float) -> SQLiteBackend:
        """Open (creating and migrating) the file. Raises StoreUnavailableError."""
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
        except (sqlite3.Error, OSError) as e:
            raise _unavailable(e) from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await _enter_wal(db, busy_timeout)
            await db.execute("PRAGMA synchronous = NORMAL")
            migrated = await migrate_sqlite(db)
        except BaseException as e:
            await db.close()
            if isinstance(e, sqlite3.Error):
                raise _unavailable(e) from None
            raise
        return cls(db, migrated)

    async def ping(self) -> None:
        async with self._serial.use() as db:
            await db.execute("SELECT 1 FROM schema_version")

    async def close(self) -> None:
        await self._serial.wait_closed()
        await self._db.close()

    async def insert_tenant(self, row: StoredTenant) -> None:
        async with self._serial.use() as db:
            try:
                await db.execute(
                    f"INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    (row.tenant_id, row.document, row.version, row.created_at, row.updated_at),
                )
            except sqlite3.IntegrityError:
                raise TenantExistsError(
                    f"tenant {row.tenant_id!r} already exists", param="tenant_id"
                ) from None

    async def select_tenant(self, tenant_id: str) -> StoredTenant | None:
        async with self._serial.use() as db:
            rows = await _fetch(
                db, f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = ?", (tenant_id,)
            )
        return StoredTenant(*rows[0]) if rows else None

    async def select_tenants(self, after: str | None, limit: int) -> list[StoredTenant]:
        async with self._serial.use() as db:
            rows = await _fetch(
                db,
                f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id > ? "
                "ORDER BY tenant_id LIMIT ?",
                (after or "", limit),
            )
        return [StoredTenant(*r) for r in rows]

    async def count_tenants(self) -> int:
        async with self._serial.use() as db:
            rows = await _fetch(db, "SELECT COUNT(*) FROM tenants", ())
        return int(rows[0][0])

    async def update_tenant(
        self, tenant_id: str, document: str, *, expected_version: int, updated_at: int | None
    ) -> StoredTenant | None:
        async with self._serial.transaction() as db:
            rows = await _fetch(
                db, f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = ?", (tenant_id,)
            )
            if not rows:
                return None
            old = StoredTenant(*rows[0])
            if old.version != expected_version:
                raise TenantChangedError(
                    f"tenant {tenant_id!r} changed since it was read; read it and try again"
                )
            new = StoredTenant(
                tenant_id, document, old.version + 1, old.created_at, updated_at or old.updated_at
            )
            await db.execute(
                "UPDATE tenants SET document = ?, version = ?, updated_at = ? WHERE tenant_id = ?",
                (new.document, new.version, new.updated_at, tenant_id),
            )
        return new

    async def delete_tenant(self, tenant_id: str, now: int) -> bool:
        async with self._serial.transaction() as db:
            cur = await db.execute("DELETE FROM tenants WHERE tenant_id = ?", (tenant_id,))
            existed = cur.rowcount > 0
            await db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL",
                (now, tenant_id),
            )
        return existed

    async def insert_token(self, row: StoredToken) -> bool:
        async with self._serial.use() as db:
            cur = await db.execute(
                f"INSERT INTO tokens ({TOKEN_COLUMNS}) SELECT ?, tenant_id, ?, ?, ?, ?, NULL "
                "FROM tenants WHERE tenant_id = ?",
                (row.token_id, row.name, row.digest, row.created_at, row.expires_at, row.tenant_id),
            )
            return cur.rowcount > 0

    async def select_token(self, digest: str) -> StoredToken | None:
        async with self._serial.use() as db:
            rows = await _fetch(
                db, f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE digest = ?", (digest,)
            )
        return StoredToken(*rows[0]) if rows else None

    async def select_tokens(
        self, tenant_id: str, after: str | None, limit: int
    ) -> list[StoredToken]:
        async with self._serial.use() as db:
            rows = await _fetch(
                db,
                f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant_id = ? AND token_id > ? "
                "ORDER BY token_id LIMIT ?",
                (tenant_id, after or "", limit),
            )
        return [StoredToken(*r) for r in rows]

    async def revoke_token(self, tenant_id: str, token_id: str, now: int) -> bool:
        async with self._serial.transaction() as db:
            rows = await _fetch(
                db,
                "SELECT revoked_at FROM tokens WHERE token_id = ? AND tenant_id = ?",
                (token_id, tenant_id),
            )
            if rows and rows[0][0] is None:
                await db.execute(
                    "UPDATE tokens SET revoked_at = ? WHERE token_id = ?", (now, token_id)
                )
        return bool(rows)

    async def insert_usage(self, rows: Sequence[Row], batch_id: str) -> int:
        async with self._serial.use() as db:
            return await _on_thread(db, _insert_usage, rows, batch_id)

    async def insert_usage_rows(self, rows: Sequence[Row], batch_id: str) -> int:
        async with self._serial.use() as db:
            return await _on_thread(db, _insert_usage_rows, rows, batch_id)

    async def usage_sums(
        self, tenant_id: str, start: str, end: str, by: Sequence[str]
    ) -> list[tuple[object, ...]]:
        async with self._serial.use() as db:
            return await _fetch(db, SQLITE.sums(by), (tenant_id, start, end))

    async def has_usage(self, tenant_id: str) -> bool:
        async with self._serial.use() as db:
            sql = SQLITE.has_usage()
            return bool(await _fetch(db, sql, (tenant_id,)))


async def _enter_wal(db: aiosqlite.Connection, busy_timeout: float) -> None:
    """`PRAGMA journal_mode = WAL`, retried for up to `busy_timeout`: while another
    process switches the same new file to WAL, SQLite answers SQLITE_BUSY at once,
    without its busy handler (4 processes opening one new file together: 2 to 17 % of
    the opens failed so, and a gunicorn worker that fails to boot stops the server)."""
    deadline = asyncio.get_running_loop().time() + busy_timeout
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            if asyncio.get_running_loop().time() >= deadline:
                raise
        await asyncio.sleep(_WAL_RETRY_S)


def _insert_usage(conn: sqlite3.Connection, rows: Sequence[Row], batch_id: str) -> int:
    """The ledger's batch as one transaction, run whole on the connection's thread: one
    hop there and back per batch, and no transaction left open when the caller is
    cancelled (the function still ends it, committed or rolled back). The rollups are
    added only when the batch was new: in neither table of batches."""
    args = batch_args(rows, batch_id, int(time.time() * 1000))
    conn.execute("BEGIN IMMEDIATE")
    try:
        new = (
            conn.execute(_KNOWN_V4, (batch_id,)).fetchone() is None
            and conn.execute(_INSERT, args).rowcount > 0
        )
        if new:
            groups = rollup_groups(rows)
            conn.execute(SQLITE.upsert(len(groups) // ROLLUP_WIDTH), groups)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return len(rows) if new else 0


# Rows spilled before schema version 4, at most this many per statement (24 parameters
# a row: under SQLite's 32,766 with room to spare).
_ROWS_PER_INSERT = 500


def _insert_usage_rows(conn: sqlite3.Connection, rows: Sequence[Row], batch_id: str) -> int:
    """As `_insert_usage`, for rows spilled one by one before schema version 4: into
    `usage_records_v3`, idempotent on each event_id (`UsageSQL.insert_rows`)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        inserted = 0
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            sql = SQLITE.insert_rows(len(chunk))
            inserted += conn.execute(sql, rows_args(chunk, batch_id)).rowcount
            if inserted:
                conn.execute(SQLITE.rollup_rows(len(chunk)), rollup_args(chunk, batch_id))
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return inserted


async def _on_thread(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(connection, *args)` on the connection's thread, queued behind its other
    calls. aiosqlite has no public call for this: `_execute` and `_conn` are what its
    own methods use (pinned by tests/store/test_sqlite.py)."""
    execute: Callable[..., Awaitable[T]] = db._execute
    return await execute(fn, db._conn, *args)


async def _fetch(db: aiosqlite.Connection, sql: str, args: Iterable[Any]) -> list[Any]:
    async with db.execute(sql, tuple(args)) as cur:
        return list(await cur.fetchall())


class _Serial:
    """One operation at a time on the connection; sqlite3 errors become StoreUnavailableError.

    An operation cancelled by the store timeout may leave its transaction open: the
    connection's thread still runs the statement (a `BEGIN IMMEDIATE` waiting for
    another process's lock takes it later). Until rolled back it holds the file's
    write lock, and every other process's writer waits for it and fails with
    "database is locked": so the rollback is queued at once, behind that statement,
    by a task of its own (the next operation rolls back first if it comes sooner).
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._dirty = False
        self._cleanups: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def use(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await self._roll_back_if_dirty()
                yield self._db
            except sqlite3.IntegrityError:
                raise
            except (sqlite3.Error, ValueError) as e:  # ValueError: connection closed
                raise _unavailable(e) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.use() as db:
            try:
                self._dirty = True
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except asyncio.CancelledError:
                    raise
                except BaseException:
                    await db.rollback()
                    self._dirty = False
                    raise
                await db.commit()
                self._dirty = False
            except asyncio.CancelledError:
                # The statement may still run: roll back once it has (FIFO on the lock,
                # and on the connection's queue, so never into a later transaction).
                cleanup = asyncio.get_running_loop().create_task(self._clean_up())
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(self._cleanups.discard)
                raise

    async def _roll_back_if_dirty(self) -> None:
        if self._dirty:
            self._dirty = False
            await self._db.rollback()

    async def _clean_up(self) -> None:
        """After a cancelled transaction: roll back as soon as the connection is free."""
        async with self._lock:
            try:
                await self._roll_back_if_dirty()
            except (sqlite3.Error, ValueError):
                pass  # closed meanwhile (the transaction went with it) or broken: the
                # next operation reports that

    async def wait_closed(self) -> None:
        """Before the connection closes: the rollbacks of cancelled transactions."""
        if self._cleanups:
            await asyncio.wait(list(self._cleanups))
