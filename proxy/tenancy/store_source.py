"""The built-in store as the resolver's config source (built-in-store mode, SPEC 2, 7).

`fetch` is the Config API contract read from the store: the document with plain keys,
404 when there is no tenant, 503 when the store is down or slow (bounded by
STORE_TIMEOUT). A stored key that does not open (sealed under a key id no longer in
the ring) is never forwarded: the request gets a plain 500 `internal_error`, and the
log names the key id, at most once per 10 s per key id.
"""

from __future__ import annotations

import logging
from typing import Any

from proxy.errors import (
    ConfigNotFoundError,
    ConfigUnavailableError,
    InternalError,
    SealedKeyError,
    StoreUnavailableError,
)
from proxy.store import TenantStore
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.tenancy")


class StoreConfigSource:
    name = "store"  # as a readiness check, and the config events' `source`

    def __init__(self, store: TenantStore) -> None:
        self._store = store
        self._warn = RateLimitedLog(log)

    async def fetch(self, user_id: str) -> dict[str, Any]:
        try:
            row = await self._store.get_tenant(user_id)
        except StoreUnavailableError:
            self._warn.warning("down", "tenant store unavailable")
            raise ConfigUnavailableError("The tenant store is unavailable.") from None
        except SealedKeyError as e:
            self._warn.warning(
                "sealed:" + e.key_id,
                "tenant key cannot be decrypted; the tenant is refused",
                key_id=e.key_id,
                user_id=e.tenant_id,
                reason=e.reason,
            )
            raise InternalError("Internal error: the tenant's configuration is unusable.") from None
        if row is None:
            raise ConfigNotFoundError("No configuration exists for this user.")
        return row.document

    async def check(self) -> str | None:
        try:
            await self._store.ping()
        except StoreUnavailableError:
            return "unreachable"
        return None
