"""/admin/ui/: the dashboard's files (SPEC 14), served without the admin key.

The page holds no data and no secret: it asks for the admin key and calls the
management API with it. Its files are built from `ui/` by `make ui` (node and npm)
into `proxy/admin/ui_dist/`, package data, and read once when the app is built. Every
answer carries `Content-Security-Policy: default-src 'self'` (the other directives
only narrow it), so the page runs no inline script and reaches no other origin. Not
built: `/admin/ui/` answers a plain page saying how to build it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy import keys
from proxy.admin.errors import admin_error_response
from proxy.admin.routing import GuardedRoutes
from proxy.errors import MethodNotAllowedError, NotFoundError, ProxyError

UI_DIST = Path(__file__).with_name("ui_dist")
CSP = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
NOT_BUILT = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashboard not built</title></head>
<body><h1>The dashboard is not built</h1>
<p>Build it from the repository with <code>make ui</code> (needs node and npm; the
gateway picks it up at its next start). <code>make run</code>, <code>make test</code>
and the Docker image build it when node is there.</p>
<p>The management API under <code>/admin/</code> works without it.</p></body></html>
"""


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


ASSETS = web.AppKey("ui_assets", dict[str, Asset])


def load_assets(directory: Path) -> dict[str, Asset]:
    """The built files by name (`""` is the page); only the plain page when not built."""
    files = sorted(directory.iterdir()) if (directory / "index.html").is_file() else []
    assets = {
        f.name: _asset(f.read_bytes(), CONTENT_TYPES[f.suffix])
        for f in files
        if f.is_file() and f.suffix in CONTENT_TYPES
    }
    assets[""] = assets.get("index.html") or _asset(NOT_BUILT, CONTENT_TYPES[".html"])
    return assets


def _asset(body: bytes, content_type: str) -> Asset:
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def create_ui_app(directory: Path = UI_DIST) -> web.Application:
    """Mounted at /admin/ui/ in built-in-store mode with an admin key."""
    app = web.Application()  # no middleware: admin.routing
    app[ASSETS] = load_assets(directory)
    routes = GuardedRoutes(app.router, _with_headers)
    routes.add_get("/", serve_asset)
    routes.add_get("/{name}", serve_asset)
    routes.close()
    return app


def _with_headers(handler: Handler) -> Handler:
    async def with_headers(request: web.Request) -> web.StreamResponse:
        return await _headers(request, handler)

    return with_headers


async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as e:
        request_id = request.config_dict[keys.IDS].request_id(None)
        error: ProxyError = (
            MethodNotAllowedError("Method not allowed.")
            if isinstance(e, web.HTTPMethodNotAllowed)
            else NotFoundError("Unknown path.")
        )
        response = admin_error_response(error, request_id)
    response.headers.update(SECURITY_HEADERS)
    return response


async def serve_asset(request: web.Request) -> web.Response:
    asset = request.app[ASSETS].get(request.match_info.get("name", ""))
    if asset is None:
        raise web.HTTPNotFound()
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers={"ETag": asset.etag})
    return web.Response(
        body=asset.body, headers={"Content-Type": asset.content_type, "ETag": asset.etag}
    )


async def redirect_to_ui(request: web.Request) -> web.Response:
    """/admin/ui -> /admin/ui/ (the page's relative paths need the slash)."""
    raise web.HTTPPermanentRedirect(request.path + "/")
