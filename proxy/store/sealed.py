"""`SealedStore`: the `TenantStore` callers use, over a SQLite or MySQL backend.

It checks arguments, seals documents before the backend sees them and opens them on
the way back (`sealing`), makes ids and timestamps, and bounds every backend call by
the store timeout: a database that hangs surfaces as `StoreUnavailableError` after at
most `timeout` seconds, never later.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from proxy.errors import (
    InvalidRequestError,
    InvalidUserIdError,
    RequestTooLargeError,
    TenantChangedError,
)
from proxy.store import (
    MAX_PAGE,
    MAX_TOKEN_NAME,
    TENANT_ID,
    Page,
    TenantRow,
    TokenRow,
    bounded,
)
from proxy.store.backend import Backend, StoredTenant, StoredToken
from proxy.store.cursors import decode_cursor, encode_cursor
from proxy.store.sealing import DocumentSealer

T = TypeVar("T")
MAX_DOCUMENT_BYTES = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_ID = re.compile(r"^tok_[0-9a-f]{12,40}$")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class SealedStore:
    def __init__(
        self,
        backend: Backend,
        sealer: DocumentSealer,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._sealer = sealer
        self._timeout = timeout
        self._clock = clock
        self._last_token_id = (0, 0)  # (ms, suffix) of this process's newest token id

    @property
    def sealer(self) -> DocumentSealer:
        return self._sealer

    @property
    def backend(self) -> Backend:
        """For the usage ledger's tables (proxy.store.usage), on the same connection(s)."""
        return self._backend

    async def _bounded(self, what: str, call: Awaitable[T]) -> T:
        return await bounded(call, self._timeout, what)

    async def ping(self) -> None:
        await self._bounded("ping", self._backend.ping())

    async def close(self) -> None:
        await self._backend.close()

    async def create_tenant(self, tenant_id: str, document: dict[str, Any]) -> TenantRow:
        if not isinstance(tenant_id, str) or not TENANT_ID.fullmatch(tenant_id):
            raise InvalidUserIdError(
                "tenant_id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", param="tenant_id"
            )
        stored = self._encode(tenant_id, document)
        now = _ms(self._clock())
        row = StoredTenant(tenant_id, stored, 1, now, now)
        await self._bounded("create tenant", self._backend.insert_tenant(row))
        return self._tenant(row)

    async def get_tenant(self, tenant_id: str) -> TenantRow | None:
        if not TENANT_ID.fullmatch(tenant_id):
            return None
        row = await self._bounded("get tenant", self._backend.select_tenant(tenant_id))
        return self._tenant(row) if row else None

    async def list_tenants(self, *, limit: int = 100, cursor: str | None = None) -> Page[TenantRow]:
        _check_limit(limit)
        after = decode_cursor(cursor, TENANT_ID)
        rows = await self._bounded("list tenants", self._backend.select_tenants(after, limit + 1))
        more = len(rows) > limit
        page = [self._tenant(r) for r in rows[:limit]]
        return Page(page, encode_cursor(page[-1].tenant_id) if more else None)

    async def count_tenants(self) -> int:
        return await self._bounded("count tenants", self._backend.count_tenants())

    async def replace_tenant(
        self, tenant_id: str, document: dict[str, Any], *, expected_version: int
    ) -> TenantRow | None:
        if not TENANT_ID.fullmatch(tenant_id):
            return None
        stored = self._encode(tenant_id, document)
        row = await self._bounded(
            "replace tenant",
            self._backend.update_tenant(
                tenant_id,
                stored,
                expected_version=expected_version,
                updated_at=_ms(self._clock()),
            ),
        )
        return self._tenant(row) if row else None

    async def delete_tenant(self, tenant_id: str) -> bool:
        if not TENANT_ID.fullmatch(tenant_id):
            return False
        now = _ms(self._clock())
        return await self._bounded("delete tenant", self._backend.delete_tenant(tenant_id, now))

    async def add_token(
        self, tenant_id: str, *, digest: str, name: str, expires_at: float
    ) -> TokenRow | None:
        if not _DIGEST.fullmatch(digest):
            raise ValueError("digest must be the lowercase hex SHA-256 of the token")
        if not isinstance(name, str) or len(name) > MAX_TOKEN_NAME or "\0" in name:
            raise InvalidRequestError(
                f"name must be a string of at most {MAX_TOKEN_NAME} characters", param="name"
            )
        if not TENANT_ID.fullmatch(tenant_id):
            return None
        now = _ms(self._clock())
        row = StoredToken(self._token_id(now), tenant_id, name, digest, now, _ms(expires_at), None)
        added = await self._bounded("add token", self._backend.insert_token(row))
        return _token(row) if added else None

    def _token_id(self, now_ms: int) -> str:
        """`tok_` + the mint time (ms) + 64 random bits, so ids sort by creation time (a
        token list is oldest first); within one millisecond (or a clock stepped back)
        this process's next id is its last plus one, so its own mints keep their order."""
        last_ms, last_suffix = self._last_token_id
        if now_ms > last_ms:
            ms, suffix = now_ms, secrets.randbits(63)  # room for the increments
        else:
            ms, suffix = last_ms, last_suffix + 1
        self._last_token_id = (ms, suffix)
        return f"tok_{ms:012x}{suffix:016x}"

    async def find_token(self, digest: str) -> TokenRow | None:
        if not _DIGEST.fullmatch(digest):
            return None
        row = await self._bounded("find token", self._backend.select_token(digest))
        return _token(row) if row else None

    async def list_tokens(
        self, tenant_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[TokenRow]:
        _check_limit(limit)
        after = decode_cursor(cursor, _TOKEN_ID)
        if not TENANT_ID.fullmatch(tenant_id):
            return Page((), None)
        rows = await self._bounded(
            "list tokens", self._backend.select_tokens(tenant_id, after, limit + 1)
        )
        page = [_token(r) for r in rows[:limit]]
        return Page(page, encode_cursor(page[-1].token_id) if len(rows) > limit else None)

    async def revoke_token(self, tenant_id: str, token_id: str) -> bool:
        if not TENANT_ID.fullmatch(tenant_id) or not _TOKEN_ID.fullmatch(token_id):
            return False
        now = _ms(self._clock())
        return await self._bounded(
            "revoke token", self._backend.revoke_token(tenant_id, token_id, now)
        )

    # Key rotation (proxy.store.rotation) works on rows as stored.

    async def stored_page(self, after: str | None, limit: int) -> list[StoredTenant]:
        return await self._bounded("scan tenants", self._backend.select_tenants(after, limit))

    async def stored_tenant(self, tenant_id: str) -> StoredTenant | None:
        return await self._bounded("get tenant", self._backend.select_tenant(tenant_id))

    async def reseal(self, row: StoredTenant) -> bool:
        """Re-seal the row's keys under the first key; False when it already was.

        Raises SealedKeyError (a key that does not open), TenantChangedError."""
        document = self._sealer.reseal(row.tenant_id, orjson.loads(row.document))
        if document is None:
            return False
        update = self._backend.update_tenant(
            row.tenant_id,
            orjson.dumps(document).decode(),
            expected_version=row.version,
            updated_at=None,
        )
        if await self._bounded("re-seal tenant", update) is None:
            raise TenantChangedError(f"tenant {row.tenant_id!r} was deleted during the rotation")
        return True

    def _encode(self, tenant_id: str, document: dict[str, Any]) -> str:
        if not isinstance(document, dict):
            raise InvalidRequestError("the tenant document must be a JSON object")
        try:
            raw = orjson.dumps(self._sealer.seal(tenant_id, document))
        except TypeError:
            raise InvalidRequestError("the tenant document must be plain JSON") from None
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise RequestTooLargeError(
                f"the tenant document is larger than {MAX_DOCUMENT_BYTES} bytes once stored"
            )
        return raw.decode()

    def _tenant(self, row: StoredTenant) -> TenantRow:
        document = self._sealer.open(row.tenant_id, orjson.loads(row.document))
        return TenantRow(
            row.tenant_id, document, row.version, row.created_at / 1000, row.updated_at / 1000
        )


def _token(row: StoredToken) -> TokenRow:
    revoked = row.revoked_at / 1000 if row.revoked_at is not None else None
    return TokenRow(
        row.token_id,
        row.tenant_id,
        row.name,
        row.digest,
        row.created_at / 1000,
        row.expires_at / 1000,
        revoked,
    )


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequestError(f"limit must be between 1 and {MAX_PAGE}", param="limit")
