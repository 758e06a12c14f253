"""The route table. Unknown paths get a JSON 404; no middleware runs on any route."""

from __future__ import annotations

from aiohttp import web

from proxy import keys
from proxy.api import health
from proxy.api.cors import CORSPolicy
from proxy.api.errors import not_found
from proxy.settings import Settings


async def proxy_v1(request: web.Request) -> web.StreamResponse:
    return await request.app[keys.PROXY].handle(request, None, request.raw_path)


def setup(app: web.Application, settings: Settings) -> None:
    router = app.router
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    router.add_get("/metrics", health.metrics)
    if settings.cors_allowed_origins:
        cors = CORSPolicy(settings.cors_allowed_origins)
        router.add_route("OPTIONS", "/{tail:.*}", cors.preflight)
        app.on_response_prepare.append(cors.on_prepare)
    router.add_route("*", "/v1/{tail:.*}", proxy_v1)  # the handler answers 405 itself
    router.add_route("*", "/{tail:.*}", not_found)
