"""The request path frees what it makes by refcounting alone.

Serving workers run the cycle collector only every 10,000 objects
(proxy.worker.tune_gc): a reference cycle made per request would hold memory
until then, and make collections frequent again under load.
"""

from __future__ import annotations

import asyncio
import gc
import types
from typing import Any

from aiohttp import web

from tests.conftest import openai_route
from tests.helpers import free_port, sse

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"type":"message","role":"assistant","model":"claude","content":[],'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":1}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
ROUNDS = 20


def _ours(obj: Any) -> bool:
    """Is this garbage object one of the gateway's, or a frame of its code?"""
    if isinstance(obj, types.FrameType):
        return "/proxy/" in obj.f_code.co_filename
    if isinstance(obj, types.CoroutineType):
        return "/proxy/" in obj.cr_code.co_filename
    return type(obj).__module__.startswith("proxy.")


async def test_requests_of_every_outcome_leave_no_reference_cycles(make_proxy, upstream, sink):
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body["model"] == "claude":  # a translated request: answered as Anthropic does
            if body.get("stream"):
                response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await response.prepare(request)
                await response.write(ANTHROPIC_STREAM)
                return response
            return web.json_response(ANTHROPIC_MESSAGE)
        if body["model"] == "bad-request":
            return web.json_response({"error": {"message": "no"}}, status=400)
        if body["model"] == "stalls":
            await release.wait()
        if not body.get("stream"):
            return web.json_response(
                {"object": "chat.completion", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(b'{"choices":[{"delta":{"content":"hi"}}],"usage":null}'))
        if body["model"] == "hangs":
            await release.wait()  # longer than the client stays
        if body["model"] == "drops":
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(
            sse(
                b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
                b"[DONE]",
            )
        )
        return response

    upstream.handler = answer
    dead = f"http://127.0.0.1:{free_port()}"
    client = await make_proxy(
        {
            "models": [
                openai_route(upstream.url),
                openai_route(upstream.url, model="bad-request"),
                openai_route(dead, model="unreachable"),
                openai_route(upstream.url, model="stalls", timeout_s=0.05),
                openai_route(upstream.url, model="drops"),
                openai_route(upstream.url, model="hangs"),
                # SPEC 12 and 13: the exchange's general path
                openai_route(dead, model="retried", retry={"attempts": 2, "backoff_ms": 1}),
                openai_route(dead, model="falls", fallbacks=["mocked"]),
                openai_route(dead, model="opens", breaker={"failures": 1, "cooldown_s": 60}),
                openai_route(
                    upstream.url,
                    model="bad-retried",
                    upstream_model="bad-request",
                    retry={"attempts": 2, "backoff_ms": 1, "on_status": [400]},
                ),
                {"model_name": "mocked", "provider": "mock"},
                {
                    "model_name": "claude",
                    "provider": "anthropic",
                    "api_base": upstream.url,
                    "api_key": "sk-ant-0001",
                },
            ]
        }
    )
    requests: list[tuple[dict[str, Any] | None, bytes | None, int | None]] = [
        ({"model": "gpt-4o-mini"}, None, 200),
        ({"model": "gpt-4o-mini", "stream": True}, None, 200),
        ({"model": "bad-request"}, None, 400),  # an upstream error, passed through
        ({"model": "unreachable"}, None, 502),  # a transport error
        ({"model": "stalls"}, None, 504),  # a timeout
        ({"model": "drops", "stream": True}, None, 200),  # a stream cut short: error event
        (None, b'{"model": ', 400),  # malformed JSON
        ({"model": "not-configured-anywhere"}, None, 404),  # a proxy error
        ({"model": "retried"}, None, 502),  # retried transport errors
        ({"model": "falls"}, None, 200),  # a fallback answers
        ({"model": "opens"}, None, None),  # 502 opens the breaker, then 503
        ({"model": "bad-retried"}, None, 400),  # a retried answer, passed through
        ({"model": "claude", "messages": HI}, None, 200),  # translated both ways
        ({"model": "claude", "messages": HI, "stream": True}, None, 200),
        ({"model": "claude", "messages": HI, "n": 2}, None, 400),  # a translation refused
    ]

    async def send_all() -> None:
        for doc, raw, status in requests:
            resp = await client.post(
                CHAT, json=doc, data=raw, headers={"Content-Type": "application/json"}
            )
            await resp.read()
            assert resp.status == status or status is None, (doc, raw)
        # A client that leaves mid-stream (the handler is cancelled).
        seen = len(sink.records)
        resp = await client.post(CHAT, json={"model": "hangs", "stream": True})
        await resp.content.readuntil(b"\n\n")
        resp.close()
        (*_, record) = await sink.wait_for(seen + 1)
        assert record.status == 499

    await send_all()  # warm: pools, memos, first-use imports
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(ROUNDS):
            await send_all()
        gc.collect()
        ours = [repr(obj)[:120] for obj in gc.garbage if _ours(obj)]
    finally:
        release.set()
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == []
