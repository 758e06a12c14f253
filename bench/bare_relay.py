"""The reference point: a bare aiohttp relay of a few dozen lines.

Forwards any path to one upstream on one shared ClientSession, JSON whole and SSE
chunk by chunk. Everything the gateway does must fit in the difference between
this and the direct-to-upstream figures.

    python -m bench.bare_relay --port 9200 --upstream http://127.0.0.1:9101
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    yield
    await app[SESSION].close()


async def relay(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {
        "Content-Type": request.headers.get("Content-Type", "application/json"),
        "Authorization": "Bearer sk-bare",
    }
    async with request.app[SESSION].request(
        request.method, request.app[UPSTREAM] + request.path_qs, data=body, headers=headers
    ) as up:
        if up.content_type != "text/event-stream":
            return web.Response(
                body=await up.read(), status=up.status, content_type=up.content_type
            )
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--upstream", default="http://127.0.0.1:9101")
    args = parser.parse_args(argv)
    import uvloop

    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", relay)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
