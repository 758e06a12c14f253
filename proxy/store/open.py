"""Opening the store a `DATABASE_URL` names, for the wiring layer and the CLI.

    store = await open_store(parse_database_url(url), keyring, store_timeout=5.0)
    try: ...
    finally: await store.close()

Opening is bounded by the timeout too. SQLite is created and migrated here; MySQL is
only checked (`StoreSetupError` with one line saying to run `tenant-proxy db migrate`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from proxy.database_url import MySQLURL, SQLiteURL, StoreURL
from proxy.errors import StoreUnavailableError
from proxy.keyring import KeyRing
from proxy.store.backend import Backend
from proxy.store.sealed import SealedStore
from proxy.store.sealing import DocumentSealer

T = TypeVar("T")


async def open_store(
    url: StoreURL,
    keyring: KeyRing | None,
    *,
    store_timeout: float,
    pool_size: int = 10,
    clock: Callable[[], float] = time.time,
) -> SealedStore:
    """Raises StoreUnavailableError (down, within `store_timeout`) or StoreSetupError."""
    backend = await _bounded(_open_backend(url, store_timeout, pool_size), store_timeout, url)
    return SealedStore(backend, DocumentSealer(keyring), timeout=store_timeout, clock=clock)


async def migrate_database(url: StoreURL, *, store_timeout: float) -> tuple[int, int]:
    """`tenant-proxy db migrate`: (version before, version after). Idempotent."""
    if isinstance(url, SQLiteURL):
        from proxy.store.sqlite import SQLiteBackend

        backend = await _bounded(
            SQLiteBackend.open(url.path, busy_timeout=store_timeout), store_timeout, url
        )
        await backend.close()
        return backend.migrated
    from proxy.store.migrations import migrate_mysql
    from proxy.store.mysql import connect

    conn = await _bounded(connect(url, connect_timeout=store_timeout), store_timeout, url)
    try:
        return await migrate_mysql(conn)
    finally:
        conn.close()


async def _open_backend(url: StoreURL, store_timeout: float, pool_size: int) -> Backend:
    if isinstance(url, MySQLURL):
        from proxy.store.mysql import MySQLBackend

        return await MySQLBackend.open(url, connect_timeout=store_timeout, pool_size=pool_size)
    from proxy.store.sqlite import SQLiteBackend

    return await SQLiteBackend.open(url.path, busy_timeout=store_timeout)


async def _bounded(call: Awaitable[T], store_timeout: float, url: StoreURL) -> T:
    try:
        async with asyncio.timeout(store_timeout):
            return await call
    except TimeoutError:
        raise StoreUnavailableError(
            f"the tenant store at {url.display()} did not answer within {store_timeout:g} s"
        ) from None
