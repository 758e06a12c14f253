"""The built-in tenant store (SPEC 2, 6, 7, 7.1): tenants, their documents and proxy tokens.

Open one store per worker with `open_store(url, keyring, timeout=...)`
(`proxy.store.open`), in a cleanup context, and `await store.close()` after. Every
call is bounded by that timeout. What callers see is `TenantStore`:

    ping() -> None
    close() -> None
    create_tenant(tenant_id, document) -> TenantRow           # TenantExistsError
    get_tenant(tenant_id) -> TenantRow | None
    list_tenants(*, limit=100, cursor=None) -> Page[TenantRow]  # by tenant_id
    count_tenants() -> int
    replace_tenant(tenant_id, document, *, expected_version) -> TenantRow | None
                                                              # TenantChangedError
    delete_tenant(tenant_id) -> bool                          # revokes its tokens too
    add_token(tenant_id, *, digest, name, expires_at) -> TokenRow | None
    find_token(digest) -> TokenRow | None                     # one indexed query
    list_tokens(tenant_id, *, limit=100, cursor=None) -> Page[TokenRow]
    revoke_token(tenant_id, token_id) -> bool

Documents go in and come out as plain dicts with plain `api_key` values: the store
seals every `api_key` (in `models[]` and `default`) with the key ring before the
backend sees it (`proxy.store.sealing`) and opens it on read. Errors (proxy.errors):

- `StoreUnavailableError` (503): the database is down, refused, locked or did not
  answer within the timeout. Never a hang.
- `TenantExistsError` (409): create of an existing id; concurrent creates of one id
  have exactly one winner.
- `TenantChangedError` (409): `replace_tenant` with a stale `expected_version`
  (optimistic concurrency: a PATCH reads, merges, and writes with the version it read;
  on this error it reads and merges again, so two PATCHes never lose each other).
- `SealedKeyError` (500 internal_error): a stored key does not open (`.key_id` names
  the missing key id; log it, never forward the row).
- `EncryptionNotConfiguredError` (400): a document with an `api_key` and no key ring.
- `InvalidUserIdError` / `InvalidRequestError` (400): a tenant id outside the user-id
  pattern on create, a cursor this store did not make, a limit outside 1..1000.

Not found is `None` or `False`, never an exception. Timestamps are float seconds
since the epoch (stored as milliseconds); `iso8601()` writes SPEC 7.1's form.
Starting the app: `StoreSetupError` (a missing MySQL database or schema, one line).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from proxy.errors import StoreUnavailableError

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_PAGE = 1000
MAX_TOKEN_NAME = 255

T = TypeVar("T")


class StoreSetupError(Exception):
    """The store cannot start (missing database or schema); the message is one line."""


@dataclass(frozen=True, slots=True)
class TenantRow:
    tenant_id: str
    document: dict[str, Any]  # section 3's document, keys in plain text
    version: int  # bumped by every write; replace_tenant's expected_version
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TokenRow:
    token_id: str
    tenant_id: str
    name: str
    digest: str  # hex SHA-256 of the token; the token itself is never stored
    created_at: float
    expires_at: float
    revoked_at: float | None

    def is_active(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    next_cursor: str | None  # opaque; None on the last page


class TenantStore(Protocol):
    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def create_tenant(self, tenant_id: str, document: dict[str, Any]) -> TenantRow: ...

    async def get_tenant(self, tenant_id: str) -> TenantRow | None: ...

    async def list_tenants(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> Page[TenantRow]: ...

    async def count_tenants(self) -> int: ...

    async def replace_tenant(
        self, tenant_id: str, document: dict[str, Any], *, expected_version: int
    ) -> TenantRow | None: ...

    async def delete_tenant(self, tenant_id: str) -> bool: ...

    async def add_token(
        self, tenant_id: str, *, digest: str, name: str, expires_at: float
    ) -> TokenRow | None: ...

    async def find_token(self, digest: str) -> TokenRow | None: ...

    async def list_tokens(
        self, tenant_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[TokenRow]: ...

    async def revoke_token(self, tenant_id: str, token_id: str) -> bool: ...


def iso8601(ts: float) -> str:
    """`2026-11-30T15:04:05Z` (SPEC 7.1)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def bounded(call: Awaitable[T], limit_s: float, what: str) -> T:
    """`call`, or StoreUnavailableError once `limit_s` seconds have passed."""
    try:
        async with asyncio.timeout(limit_s):
            return await call
    except TimeoutError:
        raise StoreUnavailableError(
            f"the tenant store did not answer within {limit_s:g} s ({what})"
        ) from None
