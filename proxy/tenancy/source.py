"""Where a tenant's config comes from: the `TenantSource` protocol and static mode's,
and the `ConfigSource` protocol the multi-tenant resolver loads documents through."""

from __future__ import annotations

from typing import Any, Protocol

from proxy.tenancy.config import TenantConfig


class TenantSource(Protocol):
    def cached(self, tenant_id: str | None) -> TenantConfig | None:
        """The config if it is at hand without I/O (the hot path's sync fast path)."""

    async def config_for(self, tenant_id: str | None) -> TenantConfig:
        """The tenant's validated config; raises ProxyError subclasses on failure."""


class StaticSource:
    """Static mode: one config for every request, loaded at start."""

    def __init__(self, config: TenantConfig) -> None:
        self._config = config

    def cached(self, tenant_id: str | None) -> TenantConfig | None:
        return self._config

    async def config_for(self, tenant_id: str | None) -> TenantConfig:
        return self._config


class ConfigSource(Protocol):
    """Where the resolver fetches a tenant's document on a cache miss: the external
    Config API (`config_api.ConfigAPIClient`) or the built-in store
    (`store_source.StoreConfigSource`)."""

    name: str  # in config events (`source`) and as a readiness check

    async def fetch(self, user_id: str) -> dict[str, Any]:
        """The document. Raises ConfigNotFoundError (404), ConfigUnavailableError (503,
        served stale when a copy is kept), another ProxyError (remembered briefly), or
        ConfigDocumentError (not a JSON object)."""

    async def check(self) -> str | None:
        """Readiness: None when reachable, else a short reason."""
