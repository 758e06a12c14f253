"""The shared backend: MySQL or MariaDB through an aiomysql pool (autocommit).

Several replicas share one database. Writes that read first run in a transaction
with `SELECT ... FOR UPDATE`; single statements rely on autocommit. A connection that
failed or was cancelled mid-query (the store timeout) is closed, never returned to
the pool, so a half-read answer never reaches the next caller. The schema is never
changed here: `open` checks it (`tenant-proxy db migrate` changes it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiomysql

from proxy.database_url import MySQLURL
from proxy.errors import StoreUnavailableError, TenantChangedError, TenantExistsError
from proxy.store import StoreSetupError
from proxy.store.backend import TENANT_COLUMNS, TOKEN_COLUMNS, StoredTenant, StoredToken
from proxy.store.migrations import check_mysql
from proxy.store.usage import (
    MYSQL,
    ROLLUP_WIDTH,
    Row,
    batch_args,
    rollup_args,
    rollup_groups,
    rows_args,
)

_INSERT = MYSQL.insert()
_KNOWN_V4 = MYSQL.known_v4()
_DUPLICATE_KEY = 1062
_UNKNOWN_DATABASE = 1049


def _unavailable(e: BaseException) -> StoreUnavailableError:
    return StoreUnavailableError(f"the tenant store (MySQL) failed: {type(e).__name__} {e}")


async def connect(url: MySQLURL, *, connect_timeout: float) -> Any:
    """One connection (for `db migrate`). Raises StoreSetupError, StoreUnavailableError."""
    try:
        return await aiomysql.connect(**_options(url, connect_timeout))
    except aiomysql.OperationalError as e:
        raise _setup_error(url, e) from None
    except (aiomysql.MySQLError, OSError) as e:
        raise _unavailable(e) from None


def _options(url: MySQLURL, connect_timeout: float) -> dict[str, Any]:
    return {
        "host": url.host,
        "port": url.port,
        "user": url.user,
        "password": url.password,
        "db": url.database,
        "autocommit": True,
        "charset": "utf8mb4",
        "connect_timeout": connect_timeout,
        # A row lock held elsewhere fails after at most the store timeout (whole seconds).
        "init_command": f"SET SESSION innodb_lock_wait_timeout = {max(1, int(connect_timeout))}",
    }


def _setup_error(url: MySQLURL, e: aiomysql.OperationalError) -> Exception:
    if e.args and e.args[0] == _UNKNOWN_DATABASE:
        return StoreSetupError(
            f"DATABASE_URL names the MySQL database {url.database!r}, which does not exist "
            f"on {url.host}:{url.port}: create it (CREATE DATABASE), "
            "then run `tenant-proxy db migrate`"
        )
    return _unavailable(e)


class MySQLBackend:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: MySQLURL, *, connect_timeout: float, pool_size: int) -> MySQLBackend:
        """A pool on a database whose schema is this build's. Raises StoreSetupError."""
        try:
            pool = await aiomysql.create_pool(
                minsize=1, maxsize=pool_size, pool_recycle=3600, **_options(url, connect_timeout)
            )
        except aiomysql.OperationalError as e:
            raise _setup_error(url, e) from None
        except (aiomysql.MySQLError, OSError) as e:
            raise _unavailable(e) from None
        backend = cls(pool)
        try:
            async with backend._conn() as conn:
                await check_mysql(conn, url.database)
        except BaseException:
            await backend.close()
            raise
        return backend

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        conn = None
        try:
            conn = await self._pool.acquire()
            yield conn
        except BaseException as e:
            if conn is not None and not isinstance(e, aiomysql.IntegrityError):
                conn.close()  # mid-query or mid-transaction: never reused
            if isinstance(e, aiomysql.IntegrityError | TenantChangedError | StoreSetupError):
                raise
            if isinstance(e, aiomysql.MySQLError | OSError | RuntimeError):
                raise _unavailable(e) from None
            raise
        finally:
            if conn is not None:
                self._pool.release(conn)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._conn() as conn:
            await conn.begin()
            async with conn.cursor() as cur:
                yield cur
            await conn.commit()

    async def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        async with self._conn() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        async with self._conn() as conn, conn.cursor() as cur:
            return int(await cur.execute(sql, args))

    async def ping(self) -> None:
        await self._fetch("SELECT version FROM schema_version", ())

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()

    async def insert_tenant(self, row: StoredTenant) -> None:
        try:
            await self._execute(
                f"INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
                (row.tenant_id, row.document, row.version, row.created_at, row.updated_at),
            )
        except aiomysql.IntegrityError as e:
            if e.args and e.args[0] == _DUPLICATE_KEY:
                raise TenantExistsError(
                    f"tenant {row.tenant_id!r} already exists", param="tenant_id"
                ) from None
            raise _unavailable(e) from None

    async def select_tenant(self, tenant_id: str) -> StoredTenant | None:
        sql = f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = %s"
        rows = await self._fetch(sql, (tenant_id,))
        return StoredTenant(*rows[0]) if rows else None

    async def select_tenants(self, after: str | None, limit: int) -> list[StoredTenant]:
        rows = await self._fetch(
            f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id > %s "
            "ORDER BY tenant_id LIMIT %s",
            (after or "", limit),
        )
        return [StoredTenant(*r) for r in rows]

    async def count_tenants(self) -> int:
        rows = await self._fetch("SELECT COUNT(*) FROM tenants", ())
        return int(rows[0][0])

    async def update_tenant(
        self, tenant_id: str, document: str, *, expected_version: int, updated_at: int | None
    ) -> StoredTenant | None:
        async with self._transaction() as cur:
            await cur.execute(
                f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = %s FOR UPDATE",
                (tenant_id,),
            )
            found = await cur.fetchone()
            if found is None:
                return None
            old = StoredTenant(*found)
            if old.version != expected_version:
                raise TenantChangedError(
                    f"tenant {tenant_id!r} changed since it was read; read it and try again"
                )
            new = StoredTenant(
                tenant_id, document, old.version + 1, old.created_at, updated_at or old.updated_at
            )
            await cur.execute(
                "UPDATE tenants SET document = %s, version = %s, updated_at = %s "
                "WHERE tenant_id = %s",
                (new.document, new.version, new.updated_at, tenant_id),
            )
        return new

    async def delete_tenant(self, tenant_id: str, now: int) -> bool:
        async with self._transaction() as cur:
            existed = await cur.execute("DELETE FROM tenants WHERE tenant_id = %s", (tenant_id,))
            await cur.execute(
                "UPDATE tokens SET revoked_at = %s WHERE tenant_id = %s AND revoked_at IS NULL",
                (now, tenant_id),
            )
        return bool(existed)

    async def insert_token(self, row: StoredToken) -> bool:
        inserted = await self._execute(
            f"INSERT INTO tokens ({TOKEN_COLUMNS}) "
            "SELECT %s, tenant_id, %s, %s, %s, %s, NULL FROM tenants WHERE tenant_id = %s",
            (row.token_id, row.name, row.digest, row.created_at, row.expires_at, row.tenant_id),
        )
        return inserted > 0

    async def select_token(self, digest: str) -> StoredToken | None:
        rows = await self._fetch(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE digest = %s", (digest,))
        return StoredToken(*rows[0]) if rows else None

    async def select_tokens(
        self, tenant_id: str, after: str | None, limit: int
    ) -> list[StoredToken]:
        rows = await self._fetch(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant_id = %s AND token_id > %s "
            "ORDER BY token_id LIMIT %s",
            (tenant_id, after or "", limit),
        )
        return [StoredToken(*r) for r in rows]

    async def revoke_token(self, tenant_id: str, token_id: str, now: int) -> bool:
        async with self._transaction() as cur:
            await cur.execute(
                "SELECT revoked_at FROM tokens WHERE token_id = %s AND tenant_id = %s FOR UPDATE",
                (token_id, tenant_id),
            )
            found = await cur.fetchone()
            if found is not None and found[0] is None:
                await cur.execute(
                    "UPDATE tokens SET revoked_at = %s WHERE token_id = %s", (now, token_id)
                )
        return found is not None

    async def insert_usage(self, rows: Sequence[Row], batch_id: str) -> int:
        args = batch_args(rows, batch_id, int(time.time() * 1000))
        async with self._transaction() as cur:
            await cur.execute(_KNOWN_V4, (batch_id,))
            new = await cur.fetchone() is None and int(await cur.execute(_INSERT, args)) > 0
            if new:
                groups = rollup_groups(rows)
                await cur.execute(MYSQL.upsert(len(groups) // ROLLUP_WIDTH), groups)
        return len(rows) if new else 0

    async def insert_usage_rows(self, rows: Sequence[Row], batch_id: str) -> int:
        async with self._transaction() as cur:
            inserted = int(
                await cur.execute(MYSQL.insert_rows(len(rows)), rows_args(rows, batch_id))
            )
            if inserted:
                await cur.execute(MYSQL.rollup_rows(len(rows)), rollup_args(rows, batch_id))
        return inserted

    async def usage_sums(
        self, tenant_id: str, start: str, end: str, by: Sequence[str]
    ) -> list[tuple[object, ...]]:
        return await self._fetch(MYSQL.sums(by), (tenant_id, start, end))

    async def has_usage(self, tenant_id: str) -> bool:
        sql = MYSQL.has_usage()
        return bool(await self._fetch(sql, (tenant_id,)))
