"""The worker's one upstream ClientSession: opened at startup, closed at cleanup.

No cookie jar (upstream cookies must never cross tenants), no proxy variables
from the environment, no redirects (set per request), DNS answers cached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from proxy import keys

DNS_CACHE_TTL_S = 60
KEEPALIVE_S = 30.0


def build_session(max_connections: int, connect_timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,
        ttl_dns_cache=DNS_CACHE_TTL_S,
        keepalive_timeout=KEEPALIVE_S,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=True,
    )


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    session = build_session(settings.upstream_max_connections, settings.upstream_connect_timeout)
    app[keys.HTTP] = session
    yield
    await session.close()
