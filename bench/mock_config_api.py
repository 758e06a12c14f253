"""A mock Config API serving generated configs for N tenants (SPEC section 4).

Tenants are `t00000` .. `t{N-1:05d}`; each gets routes to the mock upstream
(`gpt-4o-mini` openai, `claude-3-5-haiku` anthropic), its own upstream key, and a
budget (`--no-budget`: none). Unknown users are 404. `/stats` reports how many configs
were served.

    python -m bench.mock_config_api --port 9102 --tenants 10000 --upstream http://127.0.0.1:9101
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from aiohttp import web


def tenant_ids(count: int) -> list[str]:
    return [f"t{i:05d}" for i in range(count)]


def tenant_config(
    tenant_id: str, upstream: str, stream_upstream: str | None = None, *, budget: bool = True
) -> dict[str, object]:
    extra = []
    if stream_upstream:  # a canned-SSE upstream (nginx in bench.relay)
        extra.append(
            {
                "model_name": "gpt-stream",
                "provider": "openai",
                "api_base": stream_upstream,
                "api_key": f"sk-bench-{tenant_id}-stream-key",
            }
        )
    doc: dict[str, object] = {
        "models": [
            *extra,
            {
                "model_name": "gpt-4o-mini",
                "provider": "openai",
                "api_base": upstream,
                "api_key": f"sk-bench-{tenant_id}-openai-key",
                "input_cost_per_mtok": 0.15,
                "output_cost_per_mtok": 0.60,
            },
            {
                "model_name": "claude-3-5-haiku",
                "provider": "anthropic",
                "api_base": upstream,
                "api_key": f"sk-bench-{tenant_id}-anthropic-key",
            },
        ],
    }
    if budget:
        doc["budget"] = {"monthly_usd": 1_000_000.0}
    return doc


class MockConfigAPI:
    def __init__(
        self,
        tenants: int,
        upstream: str,
        *,
        latency_ms: float = 0.0,
        stream_upstream: str | None = None,
        budget: bool = True,
    ) -> None:
        self._budget = budget
        self._known = set(tenant_ids(tenants))
        self._upstream = upstream
        self._stream_upstream = stream_upstream
        self._latency = latency_ms / 1000
        self.served = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users/{user_id}/config", self.config)
        app.router.add_get("/stats", self.stats)
        return app

    async def config(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if self._latency:
            await asyncio.sleep(self._latency)
        if user_id not in self._known:
            return web.json_response({"error": "no such user"}, status=404)
        self.served += 1
        body = orjson.dumps(
            tenant_config(user_id, self._upstream, self._stream_upstream, budget=self._budget)
        )
        return web.Response(body=body, content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"served": self.served, "tenants": len(self._known)})


async def serve(host: str, port: int, api: MockConfigAPI) -> None:
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--upstream", default="http://127.0.0.1:9101")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--stream-upstream", help="route model gpt-stream here")
    parser.add_argument("--no-budget", action="store_true", help="tenants without a budget")
    args = parser.parse_args(argv)
    import uvloop

    api = MockConfigAPI(
        args.tenants,
        args.upstream,
        latency_ms=args.latency_ms,
        stream_upstream=args.stream_upstream,
        budget=not args.no_budget,
    )
    uvloop.run(serve(args.host, args.port, api))


if __name__ == "__main__":
    main()
