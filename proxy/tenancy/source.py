"""Where a tenant's config comes from: the `TenantSource` protocol and static mode's."""

from __future__ import annotations

from typing import Protocol

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
