"""/admin/...: Bearer PROXY_ADMIN_KEY (constant-time), JSON errors, 204 for deletions.

Mounted only when PROXY_ADMIN_KEY is set; without it every /admin path is a 404. In
Config-API mode it holds `DELETE /admin/cache/users/{id}`; in built-in-store mode
also the tenants (admin.tenants), their proxy tokens (admin.tokens) and their
usage (admin.usage). Request
bodies are bounded at 1 MiB (413).
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy import keys
from proxy.admin import tenants, tokens, usage
from proxy.admin.bodies import MAX_BODY_BYTES
from proxy.admin.errors import admin_error_response
from proxy.admin.routing import GuardedRoutes
from proxy.api.errors import internal_error_response
from proxy.api.paths import check_user_id, split_path
from proxy.errors import (
    AdminUnavailableError,
    AuthenticationError,
    MethodNotAllowedError,
    MissingCredentialsError,
    NotFoundError,
    ProxyError,
)
from proxy.redis_gate import RedisUnavailable

ADMIN_DIGEST = web.AppKey("admin_digest", bytes)


def create_admin_app(admin_key: str, *, store: bool = False) -> web.Application:
    """`store`: built-in-store mode (the tenants and tokens endpoints too)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)  # no middleware: admin.routing
    app[ADMIN_DIGEST] = hashlib.sha256(admin_key.encode()).digest()
    routes = GuardedRoutes(app.router, _admin)
    routes.add_delete("/cache/users/{user_id}", invalidate_user)
    if store:
        tenants.add_routes(routes)
        tokens.add_routes(routes)
        usage.add_routes(routes)
    routes.close()
    return app


def _admin(handler: Handler) -> Handler:
    """The handler behind the admin key, its errors rendered as JSON."""

    async def authenticated(request: web.Request) -> web.StreamResponse:
        return await _admin_auth(request, handler)

    async def admin(request: web.Request) -> web.StreamResponse:
        return await _admin_errors(request, authenticated)

    return admin


async def _admin_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.config_dict[keys.IDS].request_id(request.headers.get("X-Request-ID"))
    try:
        split_path(request.raw_path)  # origin-form, no traversal: as on every path
        response = await handler(request)
    except ProxyError as e:
        return admin_error_response(e, request_id)
    except web.HTTPNotFound:
        return admin_error_response(NotFoundError("Unknown path."), request_id)
    except web.HTTPMethodNotAllowed:
        return admin_error_response(MethodNotAllowedError("Method not allowed."), request_id)
    except Exception:
        return internal_error_response(request, request_id)
    response.headers["x-request-id"] = request_id
    return response


async def _admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingCredentialsError("The admin API needs 'Authorization: Bearer <admin key>'.")
    # The bytes as sent: a value that is not UTF-8 is just another wrong key.
    digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).digest()
    if not hmac.compare_digest(digest, request.app[ADMIN_DIGEST]):
        raise AuthenticationError("Invalid admin key.")
    return await handler(request)


async def invalidate_user(request: web.Request) -> web.Response:
    """DELETE /admin/cache/users/{user_id}: drop the cached config (and token checks) everywhere."""
    user_id = check_user_id(request.match_info["user_id"])
    changes = request.config_dict.get(keys.CHANGES)
    if changes is not None:
        try:
            await changes.invalidate(user_id)
        except RedisUnavailable:
            raise AdminUnavailableError(
                "Redis is unavailable: this worker dropped its copy; others drop theirs "
                "when it expires (CONFIG_L1_TTL)."
            ) from None
    return web.Response(status=204)
