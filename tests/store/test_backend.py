"""The Backend protocol, on SQLite and on MariaDB: rows come back exactly as stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxy.database_url import MySQLURL, StoreURL
from proxy.errors import TenantChangedError, TenantExistsError
from proxy.store.backend import Backend, StoredTenant, StoredToken
from proxy.store.open import migrate_database

DOCUMENT = '{"default":{"api_key":"enc:v1:new:AAAA"},"note":"é \\u0000 \'%_"}'


@pytest.fixture
async def backend(store_url: StoreURL) -> AsyncIterator[Backend]:
    await migrate_database(store_url, store_timeout=5)
    opened: Backend
    if isinstance(store_url, MySQLURL):
        from proxy.store.mysql import MySQLBackend

        opened = await MySQLBackend.open(store_url, connect_timeout=5, pool_size=2)
    else:
        from proxy.store.sqlite import SQLiteBackend

        opened = await SQLiteBackend.open(store_url.path, busy_timeout=5)
    yield opened
    await opened.close()


def _tenant(tenant_id: str, version: int = 1, at: int = 1_700_000_000_123) -> StoredTenant:
    return StoredTenant(tenant_id, DOCUMENT, version, at, at)


async def test_a_tenant_row_comes_back_as_it_was_stored(backend):
    row = _tenant("acme")
    await backend.insert_tenant(row)
    assert await backend.select_tenant("acme") == row  # the document text byte for byte
    assert await backend.select_tenant("ACME") is None
    with pytest.raises(TenantExistsError):
        await backend.insert_tenant(_tenant("acme", at=1))
    assert await backend.count_tenants() == 1


async def test_pages_are_in_byte_order_after_the_given_id(backend):
    ids = ["b", "B", "a.b", "a_b", "a-b", "A", "Z9"]
    for tenant_id in ids:
        await backend.insert_tenant(_tenant(tenant_id))
    ordered = sorted(ids, key=str.encode)
    assert [r.tenant_id for r in await backend.select_tenants(None, 100)] == ordered
    assert [r.tenant_id for r in await backend.select_tenants("B", 3)] == ordered[2:5]
    assert await backend.select_tenants("b", 10) == []


async def test_an_update_is_a_compare_and_set_and_updated_at_none_keeps_the_old_time(backend):
    await backend.insert_tenant(_tenant("acme"))
    edited = await backend.update_tenant("acme", "{}", expected_version=1, updated_at=1_800_000)
    assert edited == StoredTenant("acme", "{}", 2, 1_700_000_000_123, 1_800_000)
    rotated = await backend.update_tenant("acme", "{ }", expected_version=2, updated_at=None)
    assert rotated is not None and (rotated.version, rotated.updated_at) == (3, 1_800_000)
    with pytest.raises(TenantChangedError):
        await backend.update_tenant("acme", "[]", expected_version=2, updated_at=None)
    assert (await backend.select_tenant("acme")) == rotated
    assert await backend.update_tenant("ghost", "{}", expected_version=1, updated_at=1) is None


async def test_tokens_need_their_tenant_and_deleting_the_tenant_revokes_them(backend):
    token = StoredToken("tok_000000000001aa", "acme", "ci", "d" * 64, 5, 9_000, None)
    assert await backend.insert_token(token) is False  # no tenant: nothing written
    assert await backend.select_token("d" * 64) is None
    await backend.insert_tenant(_tenant("acme"))
    assert await backend.insert_token(token) is True
    assert await backend.select_token("d" * 64) == token
    assert await backend.select_tokens("acme", None, 10) == [token]
    assert await backend.select_tokens("acme", token.token_id, 10) == []
    assert await backend.revoke_token("other", token.token_id, 7) is False
    assert await backend.delete_tenant("acme", 8) is True
    revoked = await backend.select_token("d" * 64)
    assert revoked is not None and revoked.revoked_at == 8
    assert await backend.revoke_token("acme", token.token_id, 9) is True  # exists; still 8
    assert (await backend.select_token("d" * 64)).revoked_at == 8
    assert await backend.delete_tenant("acme", 10) is False
