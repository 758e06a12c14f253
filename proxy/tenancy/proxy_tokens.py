"""Proxy tokens (SPEC 6, 7.1): minted by the management API, checked on the hot path.

A token is `tp-` + 32 random bytes (base64url, no padding). The store keeps only its
SHA-256 (hex); this process keeps what the store last said about each digest it saw:

- `cached(digest, now)`: the hot path, one dict lookup. A grant (the token's tenant)
  is kept until min(now + AUTH_CACHE_TTL, the token's expiry); a refusal (unknown,
  revoked or expired: all final, a token never becomes valid again) for
  AUTH_CACHE_TTL in a separate, smaller table, so a flood of bad tokens costs one
  store query per token per TTL and never evicts the grants. A digest never seen
  has no entry, so a token minted a moment ago is looked up at once.
- `check(digest)`: a miss; one store query per digest at a time (single-flight, as
  its own tracked task, so a caller that goes away does not cancel it for the others).
- `drop_tenant(tenant)`: a revoke, patch or delete (here, or via pub/sub from another
  worker). It removes the tenant's grants and bumps an epoch; a query that started
  before the drop does not write its answer back (the same rule as the resolver's
  generation counters), so no in-flight lookup re-installs a revoked token.
- The store down: a cold token is a 503. A warm one (a grant past its cache TTL but
  not past the token's expiry) keeps being served, re-checked every few seconds:
  while the store is down nothing can be revoked, so the last answer still holds.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from proxy.errors import InvalidTokenError, StoreUnavailableError
from proxy.store import TenantStore
from proxy.tasks import TaskSet
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.tenancy")

TOKEN_PREFIX = "tp-"
TOKEN_BYTES = 32
GRANTS_SIZE = 100_000
REFUSALS_SIZE = 10_000
STALE_RECHECK_S = 5.0  # while the store is down, a warm token is re-checked this often


def mint_token() -> str:
    """A new proxy token: `tp-` + 32 random bytes, base64url without padding."""
    raw = secrets.token_bytes(TOKEN_BYTES)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_digest(token: str) -> bytes:
    """The SHA-256 a token is known by (the store holds its hex form)."""
    return hashlib.sha256(token.encode()).digest()


class Grant:
    """A token the store accepted: whose it is, and until when this process trusts that."""

    __slots__ = ("tenant", "until", "expires_at")

    def __init__(self, tenant: bytes, until: float, expires_at: float) -> None:
        self.tenant = tenant  # the tenant id as bytes, for a constant-time comparison
        self.until = until
        self.expires_at = expires_at


_INVALID, _UNAVAILABLE = "invalid", "unavailable"


class ProxyTokens:
    def __init__(
        self,
        store: TenantStore,
        *,
        tasks: TaskSet,
        cache_ttl: float,
        clock: Callable[[], float] = time.time,
        grants_size: int = GRANTS_SIZE,
        refusals_size: int = REFUSALS_SIZE,
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._grants_size = grants_size
        self._refusals_size = refusals_size
        self._grants: dict[bytes, Grant] = {}
        self._by_tenant: dict[str, set[bytes]] = {}
        self._refused: dict[bytes, float] = {}
        self._checks: dict[bytes, asyncio.Task[Grant | str]] = {}
        self._epoch = 0
        self._warn = RateLimitedLog(log)

    # -- the hot path ---------------------------------------------------------------

    def cached(self, digest: bytes, now: float) -> Grant | None:
        """The grant if this process trusts it now; None on a miss. Raises
        InvalidTokenError for a token refused a moment ago."""
        grant = self._grants.get(digest)
        if grant is not None and grant.until > now:
            return grant
        refused_until = self._refused.get(digest)
        if refused_until is not None and refused_until > now:
            raise InvalidTokenError("Invalid token.")
        return None

    async def check(self, digest: bytes) -> Grant:
        """Ask the store (one query per digest at a time). Raises InvalidTokenError,
        StoreUnavailableError."""
        task = self._checks.get(digest)
        if task is None:
            task = self._tasks.spawn(self._load(digest), name="token-check")
            self._checks[digest] = task
            task.add_done_callback(functools.partial(self._check_done, digest))
        result = await asyncio.shield(task)
        if result == _INVALID:
            raise InvalidTokenError("Invalid token.")
        if result == _UNAVAILABLE:
            raise StoreUnavailableError("The tenant store is unavailable.")
        assert isinstance(result, Grant)
        return result

    # -- invalidation ---------------------------------------------------------------

    def drop_tenant(self, tenant_id: str) -> None:
        """Forget every grant of the tenant; checks in flight do not write back."""
        self._epoch += 1
        for digest in self._by_tenant.pop(tenant_id, ()):
            self._grants.pop(digest, None)
        self._checks.clear()  # later requests start fresh checks

    def clear(self) -> None:
        """Forget everything (the invalidation subscription was lost or regained)."""
        self._epoch += 1
        self._grants.clear()
        self._by_tenant.clear()
        self._checks.clear()

    # -- loading --------------------------------------------------------------------

    def _check_done(self, digest: bytes, task: asyncio.Task[Any]) -> None:
        if self._checks.get(digest) is task:
            del self._checks[digest]

    async def _load(self, digest: bytes) -> Grant | str:
        epoch = self._epoch
        try:
            row = await self._store.find_token(digest.hex())
        except StoreUnavailableError:
            return self._stale(digest)
        now = self._clock()
        if row is None or not row.is_active(now):
            self._refuse(digest, now)
            return _INVALID
        grant = Grant(
            row.tenant_id.encode(), min(row.expires_at, now + self._cache_ttl), row.expires_at
        )
        if self._epoch == epoch:  # not dropped while the query ran
            self._keep(digest, row.tenant_id, grant)
        return grant

    def _stale(self, digest: bytes) -> Grant | str:
        now = self._clock()
        grant = self._grants.get(digest)
        if grant is None or grant.expires_at <= now:
            self._warn.warning("down", "tenant store unavailable: token check refused")
            return _UNAVAILABLE
        grant.until = min(now + min(self._cache_ttl, STALE_RECHECK_S), grant.expires_at)
        self._warn.warning("stale", "tenant store unavailable: serving a cached token check")
        return grant

    def _keep(self, digest: bytes, tenant_id: str, grant: Grant) -> None:
        if len(self._grants) >= self._grants_size and digest not in self._grants:
            self._grants.clear()
            self._by_tenant.clear()
        self._grants[digest] = grant
        self._by_tenant.setdefault(tenant_id, set()).add(digest)

    def _refuse(self, digest: bytes, now: float) -> None:
        if len(self._refused) >= self._refusals_size:
            self._refused.clear()
        self._refused[digest] = now + self._cache_ttl
