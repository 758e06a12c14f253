"""Brings a database to the store's schema (`proxy.store.schema`, versioned per dialect).

`schema_version` is a one-row table (column `version`, an integer); version N means
steps 1..N were applied. SQLite migrates itself at open, in one `BEGIN IMMEDIATE`
transaction (several workers opening one file wait for each other; a step is never
cut short there). MySQL migrates only in `tenant-proxy db migrate`, under a named
lock (its steps are idempotent, so one cut short re-runs cleanly); at start
`check_mysql` refuses a missing, older or newer schema.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from proxy.store import StoreSetupError
from proxy.store.schema import MYSQL_STEPS, SQLITE_STEPS, Steps

__all__ = [
    "MYSQL_STEPS",
    "SCHEMA_VERSION",
    "SQLITE_STEPS",
    "Steps",
    "check_mysql",
    "migrate_mysql",
    "migrate_sqlite",
    "mysql_version",
]

SCHEMA_VERSION = len(SQLITE_STEPS)
_CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
_FIRST_ROW = (
    "INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)"
)
_MIGRATE_LOCK = "tenant_proxy_migrate"


async def migrate_sqlite(db: aiosqlite.Connection, steps: Steps = SQLITE_STEPS) -> tuple[int, int]:
    """Bring the file to the latest version; (version before, version after)."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(_CREATE_VERSION_TABLE)
        await db.execute(_FIRST_ROW)
        async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        before = int(row[0]) if row else 0
        if before > len(steps):
            raise StoreSetupError(_newer("the SQLite file", before, len(steps)))
        for version in range(before + 1, len(steps) + 1):
            for statement in steps[version - 1]:
                await db.execute(statement)
            await db.execute("UPDATE schema_version SET version = ?", (version,))
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return before, max(before, len(steps))


async def migrate_mysql(conn: Any, steps: Steps = MYSQL_STEPS) -> tuple[int, int]:
    """`tenant-proxy db migrate` on an aiomysql connection (autocommit)."""
    async with conn.cursor() as cur:
        await cur.execute("SET SESSION sql_notes = 0")  # no "already exists" notes on re-runs
        await cur.execute("SELECT GET_LOCK(%s, 30)", (_MIGRATE_LOCK,))
        if (await cur.fetchone())[0] != 1:
            raise StoreSetupError("another `tenant-proxy db migrate` holds the lock; try again")
        try:
            await cur.execute(_CREATE_VERSION_TABLE)
            await cur.execute(_FIRST_ROW.replace("SELECT 0", "SELECT 0 FROM DUAL"))
            await cur.execute("SELECT MAX(version) FROM schema_version")
            before = int((await cur.fetchone())[0])
            if before > len(steps):
                raise StoreSetupError(_newer("the MySQL schema", before, len(steps)))
            for version in range(before + 1, len(steps) + 1):
                for statement in steps[version - 1]:
                    await cur.execute(statement)
                await cur.execute("UPDATE schema_version SET version = %s", (version,))
        finally:
            await cur.execute("SELECT RELEASE_LOCK(%s)", (_MIGRATE_LOCK,))
    return before, max(before, len(steps))


async def mysql_version(conn: Any) -> int | None:
    """The schema version of the database, or None when it has no schema_version table."""
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = 'schema_version'"
        )
        if (await cur.fetchone())[0] == 0:
            return None
        await cur.execute("SELECT MAX(version) FROM schema_version")
        row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0


async def check_mysql(conn: Any, database: str, latest: int = SCHEMA_VERSION) -> None:
    """At start: refuse a schema that is missing, older or newer than this build's."""
    version = await mysql_version(conn)
    if version is None:
        raise StoreSetupError(
            f"the MySQL database {database!r} has no tenant-proxy schema: "
            "run `tenant-proxy db migrate`"
        )
    if version < latest:
        raise StoreSetupError(
            f"the MySQL schema of {database!r} is at version {version}, this build needs "
            f"{latest}: run `tenant-proxy db migrate`"
        )
    if version > latest:
        raise StoreSetupError(_newer(f"the MySQL schema of {database!r}", version, latest))


def _newer(what: str, version: int, latest: int) -> str:
    return (
        f"{what} is at schema version {version}, newer than this build ({latest}): "
        "run a newer tenant-proxy"
    )
