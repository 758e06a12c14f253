"""The route table. Unknown paths get a JSON 404; no middleware runs on any route.

Every handler validates the request target first (`api.paths`): the /v1 handler on
its own hot path, the others through `_checked_target`, so an absolute-form target
or a traversal is a 400 `invalid_path` on every path, known or not.

Tails match any character, CR and LF included (`.*` under a scoped DOTALL flag,
which the regex engine matches by jumping to the end of the path): every path
reaches a handler, and so the path checks of `api.paths`, instead of aiohttp's
plain 404.

The admin API is a sub-app the wiring layer mounts (proxy.app), not a route here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy import keys
from proxy.api import health
from proxy.api.connection import expect_continue
from proxy.api.cors import CORSPolicy
from proxy.api.errors import error_response, json_errors, not_found
from proxy.api.paths import split_path
from proxy.errors import InvalidPathError
from proxy.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_TAIL = r"{tail:(?s:.*)}"
CONFIG_PATH = "/users/{user_id}/config"  # the store as a Config API (proxy.admin.config_api)
# Any tail but the one CONFIG_PATH's resource matches (aiohttp's `{user_id}` is
# [^{}/]+; `\x7b\x7d` are the braces): with it, the proxy route is tried first on
# /users/..., and a proxied request never tries the config route.
_TAIL_BUT_CONFIG = r"{tail:(?![^/\x7b\x7d]+/config\Z)(?s:.*)}"


async def proxy(request: web.Request) -> web.StreamResponse:
    return await request.app[keys.PROXY](request)


def _checked_target(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        try:
            split_path(request.raw_path)
        except InvalidPathError as e:
            ids = request.app[keys.IDS]
            return error_response(e, ids.request_id(request.headers.get("X-Request-ID")))
        return await handler(request)

    return checked


def setup(app: web.Application, settings: Settings, *, config: Handler | None = None) -> None:
    """`config`: GET CONFIG_PATH's handler (built-in-store mode with an admin or Config
    API key); its other methods get the proxy's answer, as on any /users/ path."""
    router = app.router
    router.add_get("/healthz", _checked_target(health.healthz), expect_handler=expect_continue)
    router.add_get(
        "/readyz", _checked_target(json_errors(health.readyz)), expect_handler=expect_continue
    )
    router.add_get(
        "/metrics", _checked_target(json_errors(health.metrics)), expect_handler=expect_continue
    )
    cors = (
        CORSPolicy(settings.server.cors_allowed_origins)
        if settings.server.cors_allowed_origins
        else None
    )
    if cors is not None:
        app.on_response_prepare.append(cors.on_prepare)
    # Preflights go first on each resource, so they never reach routing or config.
    if config is not None:
        proxied = "/users/" + _TAIL_BUT_CONFIG
    else:
        proxied = ("/users/" if settings.is_multi_tenant else "/v1/") + _TAIL
    for path, handler in ((proxied, proxy), ("/" + _TAIL, not_found)):
        if cors is not None:
            router.add_route("OPTIONS", path, _checked_target(cors.preflight))
        router.add_route("*", path, handler, expect_handler=expect_continue)  # 405: proxy's
    if config is not None:  # after the proxy route: candidates of /users go in order
        if cors is not None:
            router.add_route("OPTIONS", CONFIG_PATH, _checked_target(cors.preflight))
        router.add_get(CONFIG_PATH, config, expect_handler=expect_continue)
        router.add_route("*", CONFIG_PATH, proxy, expect_handler=expect_continue)
