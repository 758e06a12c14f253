"""The worker's ClientSessions: opened at startup, closed at cleanup.

`HTTP` carries tenant traffic to providers: the SSRF guard vets every destination,
no cookie jar (upstream cookies must never cross tenants), no proxy variables from
the environment, no redirects (set per request), DNS answers cached.
`CONTROL_HTTP` reaches operator-configured endpoints (the Config API, later the
telemetry webhook): same hygiene, no guard, because those live on private networks
and a tenant's api_base must not inherit their exemption.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

from proxy import keys
from proxy.upstream.guard import DestinationPolicy, GuardedConnector

DNS_CACHE_TTL_S = 60
KEEPALIVE_S = 30.0
CONTROL_CONNECTIONS = 64


def build_session(
    max_connections: int,
    connect_timeout: float,
    policy: DestinationPolicy,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    connector = GuardedConnector(
        policy,
        limit=max_connections,
        limit_per_host=0,
        ttl_dns_cache=DNS_CACHE_TTL_S,
        keepalive_timeout=KEEPALIVE_S,
        resolver=resolver,
    )
    return _session(connector, connect_timeout)


def _session(connector: aiohttp.BaseConnector, connect_timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=True,
    )


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    policy = DestinationPolicy(
        strict=settings.is_multi_tenant,
        allow_private=settings.upstream_allow_private,
        allowed_hosts=settings.upstream_allowed_hosts,
        warnings=app[keys.UPSTREAM_WARNINGS],
    )
    session = build_session(
        settings.upstream_max_connections,
        settings.upstream_connect_timeout,
        policy,
        app.get(keys.DNS_RESOLVER),
    )
    control = _session(
        aiohttp.TCPConnector(limit=CONTROL_CONNECTIONS, ttl_dns_cache=DNS_CACHE_TTL_S),
        settings.upstream_connect_timeout,
    )
    app[keys.HTTP] = session
    app[keys.CONTROL_HTTP] = control
    yield
    await session.close()
    await control.close()
