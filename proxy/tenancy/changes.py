"""A tenant changed (patch, delete, token revoke): every cached copy goes, everywhere.

One message for configs and token checks: the tenant's id on the `config-invalidate`
channel (the format of SPEC 4's cache invalidation, unchanged). Every worker of every
replica subscribes; on a message it drops its L1 config entry and its cached token
checks of that tenant (`drop_local`). The worker that made the change drops its own
copies first, before it answers, then deletes the Redis entry and publishes.

Loads in flight never write an old value back: the resolver's per-user generation
counters and Redis compare-and-set (configs) and `ProxyTokens`' epoch (tokens).

Without Redis there is no message: other workers' copies expire on their own, configs
within CONFIG_L1_TTL and token checks within AUTH_CACHE_TTL.
"""

from __future__ import annotations

import logging

from proxy.redis_gate import RedisUnavailable
from proxy.tenancy.proxy_tokens import ProxyTokens
from proxy.tenancy.resolver import TenantResolver
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.tenancy")


class TenantChanges:
    def __init__(self, resolver: TenantResolver, tokens: ProxyTokens | None) -> None:
        self._resolver = resolver
        self._tokens = tokens
        self._warn = RateLimitedLog(log)

    def drop_local(self, user_id: str) -> None:
        """This worker forgets the tenant's config and token checks (a message arrived)."""
        self._resolver.drop_local(user_id)
        if self._tokens is not None:
            self._tokens.drop_tenant(user_id)

    def set_subscribed(self, subscribed: bool) -> None:
        """Messages may have been missed around a lost or regained subscription."""
        self._resolver.set_subscribed(subscribed)
        if self._tokens is not None:
            self._tokens.clear()

    async def invalidate(self, user_id: str) -> None:
        """Here at once, then Redis and every other worker. Raises RedisUnavailable."""
        self.drop_local(user_id)
        await self._resolver.invalidate(user_id)

    async def changed(self, user_id: str) -> None:
        """After a write to the store: like `invalidate`, but a Redis outage is only
        logged (the write is done; other workers catch up within their TTLs)."""
        try:
            await self.invalidate(user_id)
        except RedisUnavailable:
            self._warn.warning(
                "redis",
                "tenant changed while Redis is unavailable: other workers keep their copies "
                "until CONFIG_L1_TTL / AUTH_CACHE_TTL",
                user_id=user_id,
            )
