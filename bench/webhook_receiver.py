"""A telemetry webhook receiver for the load test: counts distinct event ids by type.

python -m bench.webhook_receiver --port 9300      (POST /events, GET /stats)
"""

from __future__ import annotations

import argparse

import orjson
from aiohttp import web


class Receiver:
    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.posts = 0
        self.events = 0

    async def receive(self, request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        self.posts += 1
        for event in doc if isinstance(doc, list) else [doc]:
            self.events += 1
            self.ids.setdefault(event["event_type"], set()).add(event["event_id"])
        return web.Response(status=204)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "posts": self.posts,
                "events": self.events,  # duplicates (retried deliveries) included
                "by_type": {kind: len(ids) for kind, ids in self.ids.items()},  # distinct
            }
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9300)
    args = parser.parse_args(argv)
    import uvloop

    receiver = Receiver()
    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/events", receiver.receive)
    app.router.add_get("/stats", receiver.stats)
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
