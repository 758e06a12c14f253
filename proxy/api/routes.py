"""The route table. Unknown paths get a JSON 404; no middleware runs on any route.

The admin API is a sub-app the wiring layer mounts (proxy.app), not a route here.
"""

from __future__ import annotations

from aiohttp import web

from proxy import keys
from proxy.api import health
from proxy.api.cors import CORSPolicy
from proxy.api.errors import not_found
from proxy.settings import Settings


async def proxy(request: web.Request) -> web.StreamResponse:
    return await request.app[keys.PROXY](request)


def setup(app: web.Application, settings: Settings) -> None:
    router = app.router
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    router.add_get("/metrics", health.metrics)
    cors = (
        CORSPolicy(settings.server.cors_allowed_origins)
        if settings.server.cors_allowed_origins
        else None
    )
    if cors is not None:
        app.on_response_prepare.append(cors.on_prepare)
    # Preflights go first on each resource, so they never reach routing or config.
    proxied = "/users/{tail:.*}" if settings.is_multi_tenant else "/v1/{tail:.*}"
    for path, handler in ((proxied, proxy), ("/{tail:.*}", not_found)):
        if cors is not None:
            router.add_route("OPTIONS", path, cors.preflight)
        router.add_route("*", path, handler)  # proxy answers 405 itself
