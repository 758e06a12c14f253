"""The MySQL backend when the server is silent, cut or frozen: 503 within the timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy.database_url import MySQLURL
from proxy.errors import StoreUnavailableError
from proxy.store.open import migrate_database, open_store
from tests.helpers import TCPRelay
from tests.store.conftest import ring


class FreezableRelay(TCPRelay):
    """A relay whose open connections can stop forwarding (a frozen server)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def _relay(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._open += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


async def test_a_frozen_then_cut_server_is_unavailable_and_the_pool_recovers(mysql_url):
    await migrate_database(mysql_url, store_timeout=5)
    relay = FreezableRelay(mysql_url.host, mysql_url.port)
    await relay.start()
    url = MySQLURL("127.0.0.1", relay.port, "root", "", mysql_url.database)
    store = await open_store(url, ring("new"), store_timeout=0.5)
    try:
        await store.create_tenant("acme", {"default": {"api_key": "sk-frozen-0000001"}})
        relay.flowing.clear()
        for attempt in (store.get_tenant("acme"), store.list_tenants(), store.ping()):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as e:
                await attempt
            assert time.monotonic() - started < 1.5
            assert e.value.status == 503
        relay.flowing.set()
        row = await store.get_tenant("acme")  # a fresh connection, not a half-read one
        assert row.document == {"default": {"api_key": "sk-frozen-0000001"}}
        await relay.cut()
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            await store.get_tenant("acme")
        assert time.monotonic() - started < 1.5
    finally:
        relay.flowing.set()
        await store.close()


async def test_a_refused_port_is_unavailable(mysql_url):
    relay = TCPRelay(mysql_url.host, mysql_url.port)
    await relay.start()
    await relay.cut()
    url = MySQLURL("127.0.0.1", relay.port, "root", "", mysql_url.database)
    with pytest.raises(StoreUnavailableError):
        await open_store(url, None, store_timeout=1)


def test_a_test_database_is_dropped_though_a_session_left_a_transaction_open(mysql_url):
    """A connection abandoned mid-transaction (a test's event loop closed under it)
    holds a metadata lock; the fixtures' drop ends it rather than wait a day for it."""
    import threading

    import pymysql

    from tests.conftest import drop_mysql_database, mysql_admin

    name = mysql_url.database
    mysql_admin("CREATE TABLE held (id INT PRIMARY KEY)", name)
    leaked = pymysql.connect(host=mysql_url.host, port=mysql_url.port, user="root", database=name)
    leaked.begin()
    leaked.cursor().execute("SELECT * FROM held")  # the metadata lock, until commit
    dropping = threading.Thread(target=drop_mysql_database, args=(name,), daemon=True)
    dropping.start()
    dropping.join(30)
    assert not dropping.is_alive(), "the drop waited on the abandoned transaction"
    assert not mysql_admin(f"SHOW DATABASES LIKE '{name}'")
    with pytest.raises(pymysql.MySQLError):  # its session was ended
        leaked.cursor().execute("SELECT 1")
