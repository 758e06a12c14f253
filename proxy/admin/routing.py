"""The admin sub-apps' routes, without middlewares.

aiohttp runs its middleware chain for every request of an application tree once any
sub-app has a middleware (`Application._run_middlewares` is set for the whole tree),
and that chain cost every proxied request some 10,000 instructions. So /admin/ and
/admin/ui/ have none: `GuardedRoutes` wraps each handler in what their middleware
did and, after the last route, gives every path's other methods a 405 and every other
path (the bare prefix too) a 404, raised inside the same wrapper, as aiohttp's own
were inside the middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy.api.connection import expect_continue

Wrap = Callable[[Handler], Handler]
_TAIL = r"/{tail:(?s:.*)}"  # any character, CR and LF included (as api.routes')


class GuardedRoutes:
    """Adds routes to a sub-app's router, each handler wrapped once by `wrap`."""

    def __init__(self, router: web.UrlDispatcher, wrap: Wrap) -> None:
        self._router = router
        self._wrap = wrap

    def add_get(self, path: str, handler: Handler, **kwargs: Any) -> None:
        self._router.add_get(path, self._wrap(handler), expect_handler=expect_continue, **kwargs)

    def add_post(self, path: str, handler: Handler) -> None:
        self._router.add_post(path, self._wrap(handler), expect_handler=expect_continue)

    def add_patch(self, path: str, handler: Handler) -> None:
        self._router.add_patch(path, self._wrap(handler), expect_handler=expect_continue)

    def add_delete(self, path: str, handler: Handler) -> None:
        self._router.add_delete(path, self._wrap(handler), expect_handler=expect_continue)

    def close(self) -> None:
        """After the last route: a 405 for each path's other methods, a 404 for any
        other path."""
        not_allowed, not_found = self._wrap(_not_allowed), self._wrap(_not_found)
        for resource in list(self._router.resources()):
            if isinstance(resource, web.Resource):  # all of them: plain and dynamic paths
                resource.add_route("*", not_allowed, expect_handler=expect_continue)
        for path in ("", _TAIL):
            self._router.add_route("*", path, not_found, expect_handler=expect_continue)


async def _not_allowed(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMethodNotAllowed(request.method, ())


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()
