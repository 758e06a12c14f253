"""A fast mock OpenAI/Anthropic upstream for benchmarks.

Bodies come from the gateway's own `mock` provider (so they are what the SDKs and
the gateway's usage parser expect) and are rendered once at start: a request costs
a substring test on its body and a write. Streams carry a usage chunk when asked
(`stream_options.include_usage`), Anthropic streams always do.

    python -m bench.mock_upstream --port 9101 [--latency-ms 0] [--chunk-delay-ms 0]
                                  [--processes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket

from aiohttp import web

from proxy.body import RequestBody
from proxy.providers.mock import MockProvider

PATHS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1/embeddings",
)
PROMPT = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
)


def _render() -> dict[tuple[str, bool, bool], tuple[str, bytes, list[bytes]]]:
    """(path, stream, with usage) -> (content type, JSON body, SSE events)."""
    provider = MockProvider(clock=lambda: 1_700_000_000.0)
    out = {}
    for path in PATHS:
        for stream in (False, True):
            for usage in (False, True):
                doc: dict[str, object] = {"model": "gpt-4o-mini", "stream": stream, "input": "x"}
                if usage:
                    doc["stream_options"] = {"include_usage": True}
                reply = provider.reply(
                    path, RequestBody(PROMPT, doc, "gpt-4o-mini", stream), "gpt-4o-mini"
                )
                out[path, stream, usage] = (reply.content_type, reply.body, reply.events)
    return out


class MockUpstream:
    def __init__(self, *, latency_ms: float = 0.0, chunk_delay_ms: float = 0.0) -> None:
        self._latency = latency_ms / 1000
        self._chunk_delay = chunk_delay_ms / 1000
        self._replies = _render()
        self.requests = 0

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        self.requests += 1
        stream = b'"stream":true' in body or b'"stream": true' in body
        usage = b'"include_usage":true' in body or b'"include_usage": true' in body
        found = self._replies.get((request.path, stream, usage))
        if request.path == "/stats":
            return web.json_response({"requests": self.requests, "pid": os.getpid()})
        if found is None:
            return web.json_response({"error": {"message": "unknown path"}}, status=404)
        content_type, json_body, events = found
        if self._latency:
            await asyncio.sleep(self._latency)
        if not stream:
            return web.Response(
                body=json_body, content_type=content_type, headers={"x-request-id": "mock-upstream"}
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if self._chunk_delay:
            for event in events:
                await resp.write(event)
                await asyncio.sleep(self._chunk_delay)
        else:
            await resp.write(b"".join(events))
        await resp.write_eof()
        return resp


async def serve(sock: socket.socket, latency_ms: float, chunk_delay_ms: float) -> None:
    upstream = MockUpstream(latency_ms=latency_ms, chunk_delay_ms=chunk_delay_ms)
    server = web.Server(upstream.handle, access_log=None)
    runner = web.ServerRunner(server)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def _child(sock: socket.socket, latency_ms: float, chunk_delay_ms: float) -> None:
    import uvloop

    uvloop.run(serve(sock, latency_ms, chunk_delay_ms))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    sock.set_inheritable(True)
    children = [
        multiprocessing.get_context("fork").Process(
            target=_child, args=(sock, args.latency_ms, args.chunk_delay_ms), daemon=True
        )
        for _ in range(args.processes - 1)
    ]
    for child in children:
        child.start()
    try:
        _child(sock, args.latency_ms, args.chunk_delay_ms)
    finally:
        for child in children:
            child.terminate()
            child.join(5)


if __name__ == "__main__":
    main()
