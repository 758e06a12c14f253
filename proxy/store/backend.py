"""What a database backend does: rows as stored, sealed documents as JSON text.

`SealedStore` turns these into `TenantStore` calls (sealing, timeouts, validation);
the SQLite and MySQL backends implement `Backend` and pass the same contract tests.
Times are integer milliseconds since the epoch. Backends raise `StoreUnavailableError`
for any database failure and `TenantExistsError` / `TenantChangedError` as documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from proxy.store.usage import UsageBackend


@dataclass(frozen=True, slots=True)
class StoredTenant:
    tenant_id: str
    document: str  # JSON, every api_key sealed
    version: int
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class StoredToken:
    token_id: str
    tenant_id: str
    name: str
    digest: str
    created_at: int
    expires_at: int
    revoked_at: int | None


TENANT_COLUMNS = "tenant_id, document, version, created_at, updated_at"
TOKEN_COLUMNS = "token_id, tenant_id, name, digest, created_at, expires_at, revoked_at"


class Backend(UsageBackend, Protocol):
    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def insert_tenant(self, row: StoredTenant) -> None:
        """Raises TenantExistsError, atomically: of concurrent inserts one wins."""

    async def select_tenant(self, tenant_id: str) -> StoredTenant | None: ...

    async def select_tenants(self, after: str | None, limit: int) -> list[StoredTenant]:
        """Up to `limit` rows with tenant_id > after, by tenant_id (byte order)."""

    async def count_tenants(self) -> int: ...

    async def update_tenant(
        self, tenant_id: str, document: str, *, expected_version: int, updated_at: int | None
    ) -> StoredTenant | None:
        """Write and bump the version, when it still is `expected_version`.

        None when the tenant does not exist; TenantChangedError when its version
        moved on. `updated_at=None` keeps the old value (key rotation is no edit)."""

    async def delete_tenant(self, tenant_id: str, now: int) -> bool:
        """Delete the tenant and revoke its live tokens, in one transaction."""

    async def insert_token(self, row: StoredToken) -> bool:
        """False (and nothing written) when the tenant does not exist."""

    async def select_token(self, digest: str) -> StoredToken | None: ...

    async def select_tokens(
        self, tenant_id: str, after: str | None, limit: int
    ) -> list[StoredToken]:
        """Up to `limit` tokens of the tenant with token_id > after, by token_id."""

    async def revoke_token(self, tenant_id: str, token_id: str, now: int) -> bool:
        """Set revoked_at (once); whether the token exists and belongs to the tenant."""
