"""proxy.tenancy.source: static mode's source serves its one config to every caller, with no I/O."""

from __future__ import annotations

from proxy.tenancy.config import parse_tenant_config
from proxy.tenancy.source import StaticSource, TenantSource


async def test_every_tenant_gets_the_one_config_from_both_paths():
    config = parse_tenant_config({"default": {"provider": "mock"}})
    source: TenantSource = StaticSource(config)
    for tenant in (None, "alice", "bob"):
        assert source.cached(tenant) is config  # the hot path never awaits in static mode
        assert await source.config_for(tenant) is config


async def test_two_sources_keep_their_own_configs():
    one = parse_tenant_config({"models": [{"model_name": "a", "provider": "mock"}]})
    two = parse_tenant_config({"models": [{"model_name": "b", "provider": "mock"}]})
    first, second = StaticSource(one), StaticSource(two)
    assert (await first.config_for(None)).route_for("a") is one.routes["a"]
    assert second.cached(None) is two
