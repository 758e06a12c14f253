"""CORS from `CORS_ALLOWED_ORIGINS`; off (no headers, no preflight route) when unset.

Preflights are answered here without touching tenant config or routing.
"""

from __future__ import annotations

from aiohttp import web

_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_DEFAULT_ALLOW_HEADERS = (
    "Authorization, Content-Type, X-API-Key, X-Provider-API-Key, X-Request-ID, "
    "anthropic-version, anthropic-beta, OpenAI-Organization, OpenAI-Project"
)
_EXPOSE = (
    "x-request-id, x-upstream-request-id, x-upstream-request-start, "
    "x-upstream-request-stop, Server-Timing, Retry-After"
)


class CORSPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def allowed_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if self._any:
            return "*"
        return origin if origin in self._origins else None

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        allowed = self.allowed_origin(request.headers.get("Origin"))
        if allowed is None:
            return
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE
        if allowed != "*":
            response.headers["Vary"] = "Origin"

    async def preflight(self, request: web.Request) -> web.Response:
        allowed = self.allowed_origin(request.headers.get("Origin"))
        if allowed is None or "Access-Control-Request-Method" not in request.headers:
            return web.Response(status=204)
        headers = {
            "Access-Control-Allow-Methods": _ALLOW_METHODS,
            "Access-Control-Allow-Headers": request.headers.get(
                "Access-Control-Request-Headers", _DEFAULT_ALLOW_HEADERS
            ),
            "Access-Control-Max-Age": "600",
        }
        return web.Response(status=204, headers=headers)
