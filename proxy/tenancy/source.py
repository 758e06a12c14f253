"""Where a tenant's config comes from: the `TenantSource` protocol and static mode's."""

from __future__ import annotations

from typing import Protocol

from proxy.tenancy.config import TenantConfig


class TenantSource(Protocol):
    async def config_for(self, tenant_id: str | None) -> TenantConfig:
        """The tenant's validated config; raises ProxyError subclasses on failure."""


class StaticSource:
    """Static mode: one config for every request, loaded at start."""

    def __init__(self, config: TenantConfig) -> None:
        self._config = config

    async def config_for(self, tenant_id: str | None) -> TenantConfig:
        return self._config
