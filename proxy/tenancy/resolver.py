"""Multi-tenant config resolution: L1 (this worker) -> L2 (Redis, optional) -> the source.

The source (`tenancy.source.ConfigSource`) is the Config API or the built-in store.
Without Redis (built-in-store mode may run without it) there is no L2 and no
invalidation message: an entry lives for CONFIG_L1_TTL in each worker.

`cached()` is the hot path's sync L1 lookup of a fresh entry. Otherwise `config_for()`
joins or starts one load per user (single-flight): the load runs as its own tracked
task, so a caller that goes away does not cancel it for the others.

Invalidation wins over loads in flight: a local counter per user makes a load that
started before an invalidation skip L1, and L2 writes are compare-and-set against
the version read before fetching (see cache.configs). An invalidation removes the
L1 entry outright. Not-found and invalid configs are remembered in L1 for
CONFIG_NEGATIVE_TTL, so a new tenant becomes usable quickly.

Freshness and stale-if-error (SPEC 4, degraded mode; RFC 5861):

- An entry is fresh for CONFIG_L1_TTL while this worker is subscribed to
  invalidations, and for at most CONFIG_DEGRADED_TTL (its age, by the injected
  clock, since it was loaded) while it is not (Redis down, or not yet subscribed).
- A request that finds its entry due waits on the single-flight refresh (L2, then
  the Config API): "refreshed before use". The refresh answering 404 or an invalid
  config replaces the entry with that refusal: a gone or broken tenant stops being
  served at once.
- A refresh that finds the source unavailable serves the kept entry instead, fresh
  again for the same interval (so a dead API costs one call per tenant per interval,
  not one per request), for up to CONFIG_STALE_IF_ERROR after the first failed
  refresh; after that the entry is dropped and the request gets the 503. A
  successful refresh ends the episode. Cold tenants (nothing kept) get the 503.
- With Redis healthy the same rule holds at CONFIG_L1_TTL: a warm tenant past it is
  normally served from L2; only if L2 has lost the document too (its TTL, a Redis
  restart) and the API is unavailable does the kept entry serve stale. A kept entry
  was never invalidated (invalidation removes it), so it is what a subscribed
  worker would hold anyway.
- Losing or regaining the subscription keeps L1 but makes every entry due:
  invalidations may have been missed around either change. On loss that is one
  refresh per active tenant (the degraded rate); on recovery the refresh reads L2
  first, so a recovery costs Redis reads, not a Config API stampede.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from proxy.cache.configs import ConfigCache
from proxy.cache.lru import TTLCache
from proxy.errors import ConfigInvalidError, ProxyError
from proxy.event_types import CONFIG_CACHE_HIT, CONFIG_CACHE_MISS, CONFIG_LOAD_FAILED
from proxy.redis_gate import RedisUnavailable
from proxy.tasks import TaskSet
from proxy.tenancy.config import ConfigError, TenantConfig, parse_tenant_config
from proxy.tenancy.config_api import ConfigDocumentError
from proxy.tenancy.source import ConfigSource
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.tenancy")


class ConfigEvents(Protocol):
    """Where config lookups are reported (the telemetry webhook, when one is set)."""

    def config_event(self, event_type: str, user_id: str, **fields: Any) -> None:
        """Report a config lookup (a proxy.event_types name); must not block."""


class ConfigLookups(Protocol):
    """Counts lookups by result (the app's metrics)."""

    def config_lookup(self, result: str) -> None:
        """One lookup: "l2_hit", "miss", "error" or "stale"; must not block."""

    def watch_lookups(self, result: str, source: Callable[[], int]) -> None:
        """Lookups with `result` counted elsewhere: `source` gives their running total
        ("l1_hit": the L1's own hit count, so a hit costs no call)."""


class _Refusal:
    """A remembered failure; raised afresh each time (never re-raise one instance)."""

    __slots__ = ("error_type", "message")

    def __init__(self, error: ProxyError) -> None:
        self.error_type, self.message = type(error), error.message

    def raise_(self) -> None:
        raise self.error_type(self.message)


class TenantResolver:
    def __init__(
        self,
        *,
        source: ConfigSource,
        l2: ConfigCache | None,
        tasks: TaskSet,
        metrics: ConfigLookups,
        l1_size: int,
        l1_ttl: float,
        negative_ttl: float,
        degraded_ttl: float,
        stale_if_error: float,
        events: ConfigEvents | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._source = source
        self._l2 = l2
        self._tasks = tasks
        self._metrics = metrics
        self._l1: TTLCache[TenantConfig | _Refusal] = TTLCache(l1_size, clock=clock)
        l1 = self._l1
        metrics.watch_lookups("l1_hit", lambda: l1.hits)
        self._l1_ttl = l1_ttl
        self._negative_ttl = negative_ttl
        self._degraded_ttl = degraded_ttl
        self._stale_if_error = stale_if_error
        self._stale_warning = RateLimitedLog(log)
        self._loads: dict[str, asyncio.Task[TenantConfig | ProxyError]] = {}
        self._invalidations: dict[str, int] = {}
        self.subscribed = l2 is None  # without Redis there is nothing to subscribe to

    # -- the hot path ---------------------------------------------------------------

    def cached(self, tenant_id: str | None) -> TenantConfig | None:
        entry = self._l1.get(tenant_id or "")  # counted there: metrics' l1_hit
        if entry is None:
            return None
        if isinstance(entry, _Refusal):
            entry.raise_()
        if self._events is not None:
            self._events.config_event(CONFIG_CACHE_HIT, tenant_id or "", cache="l1")
        return entry  # type: ignore[return-value]

    async def config_for(self, tenant_id: str | None) -> TenantConfig:
        user_id = tenant_id or ""
        load = self._loads.get(user_id)
        if load is None:
            load = self._tasks.spawn(self._load(user_id), name=f"config-load:{user_id}")
            self._loads[user_id] = load
            load.add_done_callback(functools.partial(self._load_done, user_id))
        result = await asyncio.shield(load)
        if isinstance(result, ProxyError):
            raise result
        return result

    # -- invalidation ---------------------------------------------------------------

    def drop_local(self, user_id: str) -> None:
        """Forget this worker's copy (and make loads in flight skip L1)."""
        self._l1.pop(user_id)
        if self._loads.pop(user_id, None) is not None:  # later requests start a fresh load
            self._invalidations[user_id] = self._invalidations.get(user_id, 0) + 1

    async def invalidate(self, user_id: str) -> None:
        """Drop the config here, in Redis, and (via pub/sub) everywhere. Raises RedisUnavailable."""
        self.drop_local(user_id)
        if self._l2 is not None:
            await self._l2.invalidate(user_id)

    def set_subscribed(self, subscribed: bool) -> None:
        """Called when the invalidation subscription is lost or regained.

        Invalidations may have been missed around either change: every entry is
        refreshed on its next use, and kept to serve if that refresh fails.
        """
        self.subscribed = subscribed
        self._l1.expire_all()

    # -- loading --------------------------------------------------------------------

    def _load_done(self, user_id: str, task: asyncio.Task[Any]) -> None:
        if self._loads.get(user_id) is task:
            del self._loads[user_id]
        if user_id not in self._loads:
            self._invalidations.pop(user_id, None)

    async def _load(self, user_id: str) -> TenantConfig | ProxyError:
        generation = self._invalidations.get(user_id, 0)
        version = b""
        if self._l2 is not None:
            try:
                doc, version = await self._l2.get(user_id)
            except RedisUnavailable:
                doc = None
            if doc is not None:
                try:
                    config = parse_tenant_config(doc)
                except ConfigError:
                    pass  # written by an older version, perhaps: fetch it again
                else:
                    self._metrics.config_lookup("l2_hit")
                    self._event(CONFIG_CACHE_HIT, user_id, cache="l2")
                    self._remember(user_id, generation, config, self._l1_ttl)
                    return config
        try:
            doc = await self._source.fetch(user_id)
            config = parse_tenant_config(doc)
        except ProxyError as e:  # not found, unavailable, or (store) a key that does not open
            unavailable = e.status == 503
            if unavailable:
                stale = self._serve_stale(user_id, generation, e)
                if stale is not None:
                    return stale
            self._metrics.config_lookup("error" if e.status >= 500 else "miss")
            self._event(CONFIG_LOAD_FAILED, user_id, error_code=e.code, status_code=e.status)
            if not unavailable:
                self._remember(user_id, generation, _Refusal(e), self._negative_ttl)
            return e
        except (ConfigError, ConfigDocumentError) as e:
            log.error("tenant config invalid", extra={"user_id": user_id, "problem": str(e)})
            self._metrics.config_lookup("error")
            error = ConfigInvalidError("The tenant's configuration is invalid.")
            self._event(CONFIG_LOAD_FAILED, user_id, error_code=error.code, status_code=500)
            self._remember(user_id, generation, _Refusal(error), self._negative_ttl)
            return error
        self._metrics.config_lookup("miss")
        self._event(CONFIG_CACHE_MISS, user_id, source=self._source.name)
        if self._l2 is not None:
            try:
                await self._l2.put(user_id, doc, version)
            except RedisUnavailable:
                pass
        self._remember(user_id, generation, config, self._l1_ttl)
        return config

    def _event(self, event_type: str, user_id: str, **fields: Any) -> None:
        if self._events is not None:
            self._events.config_event(event_type, user_id, **fields)

    def _remember(
        self, user_id: str, generation: int, entry: TenantConfig | _Refusal, ttl: float
    ) -> None:
        if self._invalidations.get(user_id, 0) != generation:
            return  # invalidated while loading: this result may be stale
        self._l1.set(user_id, entry, self._fresh_for(ttl))

    def _fresh_for(self, ttl: float) -> float:
        return ttl if self.subscribed else min(ttl, self._degraded_ttl)

    def _serve_stale(self, user_id: str, generation: int, error: ProxyError) -> TenantConfig | None:
        """The kept copy, when refreshing it found the source unavailable (stale-if-error)."""
        if self._invalidations.get(user_id, 0) != generation:
            return None  # invalidated while refreshing
        fresh_for = self._fresh_for(self._l1_ttl)
        entry = self._l1.revive(user_id, fresh_for, self._stale_if_error)
        if not isinstance(entry, TenantConfig):
            if entry is not None:
                self._l1.pop(user_id)  # a remembered refusal is not served past its TTL
            return None
        self._metrics.config_lookup("stale")
        self._event(
            CONFIG_LOAD_FAILED, user_id, error_code=error.code, status_code=error.status, stale=True
        )
        self._stale_warning.warning(
            "stale", "serving stale config", user_id=user_id, error_code=error.code
        )
        return entry
