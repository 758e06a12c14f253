"""SealedStore over a backend of the test's own: what reaches the backend is checked and
sealed, and a backend that hangs is a StoreUnavailableError within the timeout."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from proxy.errors import (
    InvalidRequestError,
    InvalidUserIdError,
    StoreUnavailableError,
    TenantChangedError,
)
from proxy.store.backend import StoredTenant, StoredToken
from proxy.store.sealed import SealedStore
from proxy.store.sealing import DocumentSealer
from tests.store.conftest import CANARY, ring

TIMEOUT = 0.2
DIGEST = "ab" * 32


class MemoryBackend:
    """A Backend in a dict; `hang` makes every call wait for ever (a frozen database)."""

    def __init__(self) -> None:
        self.tenants: dict[str, StoredTenant] = {}
        self.tokens: list[StoredToken] = []
        self.calls: list[str] = []
        self.hang = False

    async def _enter(self, what: str) -> None:
        self.calls.append(what)
        if self.hang:
            await asyncio.Event().wait()

    async def ping(self) -> None:
        await self._enter("ping")

    async def close(self) -> None:
        pass

    async def insert_tenant(self, row: StoredTenant) -> None:
        await self._enter("insert_tenant")
        self.tenants[row.tenant_id] = row

    async def select_tenant(self, tenant_id: str) -> StoredTenant | None:
        await self._enter("select_tenant")
        return self.tenants.get(tenant_id)

    async def select_tenants(self, after: str | None, limit: int) -> list[StoredTenant]:
        await self._enter("select_tenants")
        rows = sorted(self.tenants.values(), key=lambda r: r.tenant_id.encode())
        return [r for r in rows if after is None or r.tenant_id > after][:limit]

    async def count_tenants(self) -> int:
        await self._enter("count_tenants")
        return len(self.tenants)

    async def update_tenant(
        self, tenant_id: str, document: str, *, expected_version: int, updated_at: int | None
    ) -> StoredTenant | None:
        await self._enter("update_tenant")
        old = self.tenants.get(tenant_id)
        if old is None:
            return None
        if old.version != expected_version:
            raise TenantChangedError("changed")
        new = StoredTenant(
            tenant_id,
            document,
            old.version + 1,
            old.created_at,
            old.updated_at if updated_at is None else updated_at,
        )
        self.tenants[tenant_id] = new
        return new

    async def delete_tenant(self, tenant_id: str, now: int) -> bool:
        await self._enter("delete_tenant")
        return self.tenants.pop(tenant_id, None) is not None

    async def insert_token(self, row: StoredToken) -> bool:
        await self._enter("insert_token")
        self.tokens.append(row)
        return row.tenant_id in self.tenants

    async def select_token(self, digest: str) -> StoredToken | None:
        await self._enter("select_token")
        return next((t for t in self.tokens if t.digest == digest), None)

    async def select_tokens(
        self, tenant_id: str, after: str | None, limit: int
    ) -> list[StoredToken]:
        await self._enter("select_tokens")
        return [t for t in self.tokens if t.tenant_id == tenant_id][:limit]

    async def revoke_token(self, tenant_id: str, token_id: str, now: int) -> bool:
        await self._enter("revoke_token")
        return False


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def store(backend) -> SealedStore:
    return SealedStore(backend, DocumentSealer(ring("new")), timeout=TIMEOUT, clock=lambda: 1.5)


async def test_the_backend_only_ever_sees_sealed_keys(store, backend):
    document = {"models": [{"model_name": "m", "api_key": CANARY}], "default": {"api_key": CANARY}}
    row = await store.create_tenant("acme", document)
    assert row.document == document  # the caller gets the plain document back
    stored = backend.tenants["acme"]
    assert CANARY not in stored.document and stored.document.count("enc:v1:new:") == 2
    assert (stored.version, stored.created_at, stored.updated_at) == (1, 1500, 1500)  # ms
    await store.replace_tenant("acme", {"default": {"api_key": CANARY}}, expected_version=1)
    assert CANARY not in backend.tenants["acme"].document
    assert (await store.get_tenant("acme")).document == {"default": {"api_key": CANARY}}


async def test_what_is_refused_never_reaches_the_backend(store, backend):
    with pytest.raises(InvalidUserIdError):
        await store.create_tenant("bad id!", {})
    with pytest.raises(InvalidRequestError):
        await store.create_tenant("acme", {"n": object()})  # not plain JSON
    with pytest.raises(InvalidRequestError) as e:
        await store.list_tenants(limit=0)
    assert e.value.param == "limit"
    with pytest.raises(InvalidRequestError) as e:
        await store.add_token("acme", digest=DIGEST, name="x" * 256, expires_at=9e9)
    assert e.value.param == "name"
    with pytest.raises(ValueError):
        await store.add_token("acme", digest="NOT-HEX", name="ci", expires_at=9e9)
    assert await store.get_tenant("bad id!") is None
    assert await store.delete_tenant("../etc") is False
    assert await store.revoke_token("acme", "not-a-token-id") is False
    assert await store.find_token("short") is None
    assert backend.calls == []


async def test_a_hanging_backend_is_unavailable_within_the_timeout_naming_the_call(store, backend):
    await store.create_tenant("acme", {})
    backend.hang = True
    for what, call in (
        ("ping", store.ping()),
        ("get tenant", store.get_tenant("acme")),
        ("list tenants", store.list_tenants()),
        ("count tenants", store.count_tenants()),
        ("create tenant", store.create_tenant("other", {})),
        ("replace tenant", store.replace_tenant("acme", {}, expected_version=1)),
        ("delete tenant", store.delete_tenant("acme")),
        ("add token", store.add_token("acme", digest=DIGEST, name="ci", expires_at=9e9)),
        ("find token", store.find_token(DIGEST)),
        ("list tokens", store.list_tokens("acme")),
        ("revoke token", store.revoke_token("acme", "tok_0123456789ab")),
        ("scan tenants", store.stored_page(None, 10)),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as e:
            await call
        assert time.monotonic() - started < TIMEOUT * 3, what
        assert (e.value.status, e.value.code) == (503, "store_unavailable")
        assert e.value.message == f"the tenant store did not answer within 0.2 s ({what})"


async def test_resealing_a_row_deleted_meanwhile_is_a_changed_tenant(backend):
    old = SealedStore(backend, DocumentSealer(ring("old")), timeout=TIMEOUT)
    await old.create_tenant("acme", {"default": {"api_key": CANARY}})
    store = SealedStore(backend, DocumentSealer(ring("new", "old")), timeout=TIMEOUT)
    row = await store.stored_tenant("acme")
    assert row is not None
    resealed = await store.reseal(row)
    assert resealed is True and "enc:v1:new:" in backend.tenants["acme"].document
    assert backend.tenants["acme"].updated_at == row.updated_at  # a rotation is no edit
    assert await store.reseal(backend.tenants["acme"]) is False  # already under `new`
    del backend.tenants["acme"]
    with pytest.raises(TenantChangedError):
        await store.reseal(row)
    assert orjson.loads(row.document)["default"]["api_key"].startswith("enc:v1:old:")
