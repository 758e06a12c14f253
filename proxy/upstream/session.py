"""The worker's two ClientSessions, as built for `proxy.contexts.http_ctx`.

`build_session` carries tenant traffic to providers (`keys.HTTP`): the SSRF guard
vets every destination, no cookie jar (upstream cookies must never cross tenants), no
proxy variables from the environment, no redirects (set per request), DNS answers
cached. `build_control_session` reaches operator-configured endpoints (the Config API,
the telemetry webhook; `keys.CONTROL_HTTP`): same hygiene, no guard, because those
live on private networks and a tenant's api_base must not inherit their exemption.
"""

from __future__ import annotations

import aiohttp
from aiohttp.abc import AbstractResolver

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


def build_control_session(connect_timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=CONTROL_CONNECTIONS, ttl_dns_cache=DNS_CACHE_TTL_S)
    return _session(connector, connect_timeout)


def _session(connector: aiohttp.BaseConnector, connect_timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=True,
    )
