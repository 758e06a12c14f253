"""SPEC 12 through the gateway: retries, breakers, fallbacks and broken streams.

Scripted loopback upstreams refuse, reset, stall, answer 429 with Retry-After or 503,
and cut streams; each test counts the upstream's tries exactly and asserts what the
client and the usage record see. Backoffs are 1 ms, so no test waits on a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
from aiohttp import web

from tests.conftest import openai_route
from tests.helpers import free_port, sse

CHAT = "/v1/chat/completions"
ASK = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
RETRY = {"attempts": 3, "backoff_ms": 1}


def _status(*statuses: int, headers: dict[str, str] | None = None) -> Callable[..., Awaitable]:
    """Answer each try with the next status (the last repeats); 200 is a completion."""
    script = list(statuses)

    async def answer(request: web.Request) -> web.StreamResponse:
        status = script.pop(0) if len(script) > 1 else script[0]
        if status == 200:
            return web.json_response(
                {"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 3}}
            )
        return web.json_response(
            {"error": {"message": f"upstream {status}"}}, status=status, headers=headers
        )

    return answer


def _route(url: str, model: str = "gpt-4o", **extra: object) -> dict[str, object]:
    return openai_route(url, model, **extra)


async def test_without_a_retry_block_a_failure_gets_exactly_one_try(make_proxy, upstream, sink):
    upstream.handler = _status(503)
    client = await make_proxy({"models": [_route(upstream.url)]})
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 503 and (await resp.json())["error"]["message"] == "upstream 503"
    assert len(upstream.seen) == 1
    assert resp.headers["x-proxy-attempts"] == "1" and "x-proxy-route" not in resp.headers
    (record,) = await sink.wait_for(1)
    assert (record.attempts, record.route, record.fallback_from) == (1, None, None)


async def test_listed_statuses_are_retried_with_the_same_bytes_until_an_answer(
    make_proxy, upstream, sink
):
    upstream.handler = _status(503, 500, 200)
    client = await make_proxy({"models": [_route(upstream.url, retry=RETRY)]})
    body = orjson.dumps({**ASK, "stream": False, "extra": "é"})
    resp = await client.post(CHAT, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200 and (await resp.json())["choices"][0]["message"]["content"] == "ok"
    assert resp.headers["x-proxy-attempts"] == "3"
    assert [seen.body for seen in upstream.seen] == [body] * 3
    (record,) = await sink.wait_for(1)
    assert (record.status, record.attempts, record.input_tokens) == (200, 3, 3)


async def test_attempts_bound_the_tries_and_the_last_answer_is_passed_through(make_proxy, upstream):
    upstream.handler = _status(502, 504, 503)
    client = await make_proxy({"models": [_route(upstream.url, retry=RETRY)]})
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 503 and resp.headers["x-proxy-attempts"] == "3"
    assert len(upstream.seen) == 3


async def test_statuses_outside_on_status_are_not_retried(make_proxy, upstream):
    upstream.handler = _status(400, 200)
    retry = {**RETRY, "on_status": [503]}
    client = await make_proxy({"models": [_route(upstream.url, retry=retry)]})
    assert (await client.post(CHAT, json=ASK)).status == 400
    upstream.handler = _status(500, 200)
    assert (await client.post(CHAT, json=ASK)).status == 500
    assert len(upstream.seen) == 2


async def test_a_short_retry_after_is_honoured_and_a_long_one_passed_through_at_once(
    make_proxy, upstream
):
    upstream.handler = _status(429, 200, headers={"Retry-After": "0"})
    client = await make_proxy({"models": [_route(upstream.url, retry=RETRY)]})
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 200 and len(upstream.seen) == 2
    upstream.handler = _status(429, 200, headers={"Retry-After": "60"})
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 429 and resp.headers["Retry-After"] == "60"
    assert resp.headers["x-proxy-attempts"] == "1" and len(upstream.seen) == 3


async def test_a_refused_connection_is_retried_then_answered_502_with_the_count(make_proxy, sink):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    client = await make_proxy({"models": [_route(url, retry=RETRY)]})
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 502 and (await resp.json())["error"]["code"] == "upstream_unreachable"
    assert resp.headers["x-proxy-attempts"] == "3"
    (record,) = await sink.wait_for(1)
    assert (record.status, record.attempts) == (502, 3)


@asynccontextmanager
async def resetting_upstream(resets: int) -> AsyncIterator[tuple[str, list[int]]]:
    """Resets the first `resets` connections once their request arrived, then answers."""
    tries: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            tries.append(1)
            if len(tries) <= resets:
                writer.transport.abort()
                return
            body = b'{"choices":[]}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", tries
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_a_reset_connection_is_retried(make_proxy):
    async with resetting_upstream(2) as (url, tries):
        client = await make_proxy({"models": [_route(url, retry=RETRY)]})
        resp = await client.post(CHAT, json=ASK)
        assert resp.status == 200 and resp.headers["x-proxy-attempts"] == "3"
    assert len(tries) == 3


async def test_a_stall_before_the_headers_is_a_timeout_and_retried(make_proxy, upstream):
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({})

    upstream.handler = stall
    retry = {"attempts": 2, "backoff_ms": 1}
    client = await make_proxy({"models": [_route(upstream.url, retry=retry, timeout_s=0.2)]})
    try:
        resp = await client.post(CHAT, json=ASK)
    finally:
        release.set()
    assert resp.status == 504 and resp.headers["x-proxy-attempts"] == "2"
    assert len(upstream.seen) == 2


async def test_a_fallback_answers_with_its_own_route_and_prices(make_proxy, upstream, sink):
    upstream.handler = _status(503)
    doc = {
        "models": [
            _route(upstream.url, retry={"attempts": 2, "backoff_ms": 1}, fallbacks=["cheap"]),
            {
                "model_name": "cheap",
                "provider": "mock",
                "upstream_model": "mock-small",
                "input_cost_per_mtok": 1_000_000,
                "output_cost_per_mtok": 0,
            },
        ]
    }
    client = await make_proxy(doc)
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 200
    assert (resp.headers["x-proxy-attempts"], resp.headers["x-proxy-route"]) == ("3", "cheap")
    assert (await resp.json())["model"] == "mock-small"
    assert len(upstream.seen) == 2
    (record,) = await sink.wait_for(1)
    assert (record.attempts, record.route, record.fallback_from) == (3, "cheap", "gpt-4o")
    assert (record.provider, record.upstream_model, record.model) == (
        "mock",
        "mock-small",
        "gpt-4o",
    )
    assert record.cost_usd == record.input_tokens  # a dollar per input token: the fallback's price


async def test_a_client_error_is_not_sent_to_the_fallbacks(make_proxy, upstream):
    upstream.handler = _status(400)
    doc = {
        "models": [_route(upstream.url, fallbacks=["m"]), {"model_name": "m", "provider": "mock"}]
    }
    client = await make_proxy(doc)
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 400 and "x-proxy-route" not in resp.headers


async def test_when_every_route_fails_the_last_failure_is_passed_through(make_proxy, upstream):
    upstream.handler = _status(503)
    dead = f"http://127.0.0.1:{free_port()}"
    doc = {
        "models": [
            _route(dead, fallbacks=["second"]),
            _route(upstream.url, "second"),
        ]
    }
    client = await make_proxy(doc)
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 503 and (await resp.json())["error"]["message"] == "upstream 503"
    assert resp.headers["x-proxy-attempts"] == "2" and resp.headers["x-proxy-route"] == "second"


async def test_an_open_breaker_stops_sending_and_answers_503_with_retry_after(
    make_proxy, upstream, sink
):
    upstream.handler = _status(500)
    breaker = {"failures": 2, "cooldown_s": 30}
    client = await make_proxy({"models": [_route(upstream.url, breaker=breaker)]})
    for _ in range(2):
        assert (await client.post(CHAT, json=ASK)).status == 500
    resp = await client.post(CHAT, json=ASK)
    assert resp.status == 503
    error = (await resp.json())["error"]
    assert (error["type"], error["code"]) == ("service_unavailable", "upstream_unavailable")
    assert resp.headers["Retry-After"] == "30"
    assert "x-proxy-attempts" not in resp.headers  # nothing went upstream
    assert len(upstream.seen) == 2
    metrics = await (await client.get("/metrics")).text()
    assert "tenant_proxy_breakers_open 1.0" in metrics
    assert "tenant_proxy_breakers_opened_total 1.0" in metrics
    records = await sink.wait_for(3)
    assert (records[2].status, records[2].error, records[2].attempts) == (
        503,
        "upstream_unavailable",
        0,
    )


async def test_an_open_breaker_sends_requests_to_the_fallback(make_proxy, upstream):
    upstream.handler = _status(503)
    doc = {
        "models": [
            _route(upstream.url, breaker={"failures": 1}, fallbacks=["m"]),
            {"model_name": "m", "provider": "mock"},
        ]
    }
    client = await make_proxy(doc)
    for expected_tries in (1, 1, 1):  # the first try opens it; then only the fallback
        resp = await client.post(CHAT, json=ASK)
        assert resp.status == 200 and resp.headers["x-proxy-route"] == "m"
        assert len(upstream.seen) == expected_tries


async def test_4xx_and_429_answers_do_not_open_a_breaker(make_proxy, upstream):
    upstream.handler = _status(429, 400, 429, 400)
    client = await make_proxy({"models": [_route(upstream.url, breaker={"failures": 1})]})
    for _ in range(4):
        assert (await client.post(CHAT, json=ASK)).status in (400, 429)
    assert len(upstream.seen) == 4


async def test_a_client_that_leaves_during_the_tries_cancels_the_upstream_within_a_second(
    make_proxy, upstream, sink
):
    arrived, cancelled = asyncio.Event(), asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        arrived.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.json_response({})

    upstream.handler = _status(503)
    client = await make_proxy({"models": [_route(upstream.url, retry=RETRY)]})
    upstream.handler = _then(_status(503), stall)
    task = asyncio.ensure_future(client.post(CHAT, json=ASK))
    await asyncio.wait_for(arrived.wait(), 2)
    task.cancel()  # the client goes away while its retry is in flight
    await asyncio.wait_for(cancelled.wait(), 1.0)
    (record,) = await sink.wait_for(1)
    assert record.status == 499 and len(upstream.seen) == 2


def _then(first: Callable[..., Awaitable], rest: Callable[..., Awaitable]):
    used = []

    async def answer(request: web.Request) -> web.StreamResponse:
        used.append(1)
        return await (first if len(used) == 1 else rest)(request)

    return answer


async def test_a_stream_is_never_retried_once_it_started(make_proxy, upstream, sink):
    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse(b'{"choices":[{"delta":{"content":"Hel"}}]}'))
        request.transport.abort()
        return resp

    upstream.handler = cut
    client = await make_proxy({"models": [_route(upstream.url, retry=RETRY)]})
    resp = await client.post(CHAT, json={**ASK, "stream": True})
    text = await resp.read()
    assert resp.status == 200 and len(upstream.seen) == 1
    last = orjson.loads(text.strip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "upstream_stream_error" and b"[DONE]" not in text
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error, record.usage_estimated) == (
        502,
        "upstream_stream_error",
        True,
    )


# The mock's scripted faults: the README's demo of breakers and fallbacks, offline.


def _mock(name: str, **extra: object) -> dict[str, object]:
    return {"model_name": name, "provider": "mock", **extra}


async def test_mock_faults_open_a_breaker_and_a_fallback_answers(make_proxy, sink):
    doc = {
        "models": [
            _mock("gpt-4o", mock_fail={"status": 503}, breaker={"failures": 2},
                  fallbacks=["backup"]),
            _mock("backup"),
        ]
    }  # fmt: skip
    client = await make_proxy(doc)
    seen = []
    for _ in range(3):
        resp = await client.post(CHAT, json=ASK)
        assert resp.status == 200
        seen.append((resp.headers["x-proxy-route"], resp.headers["x-proxy-attempts"]))
    # Two failed tries open the breaker; the third request goes straight to the fallback.
    assert seen == [("backup", "2"), ("backup", "2"), ("backup", "1")]
    metrics = await (await client.get("/metrics")).text()
    assert "tenant_proxy_breakers_open 1.0" in metrics


async def test_mock_fail_every_n_fails_every_nth_request_and_a_retry_gets_past_it(make_proxy):
    doc = {"models": [_mock("gpt-4o", mock_fail={"status": 500, "every_n": 2}, retry=RETRY)]}
    client = await make_proxy(doc)
    first, second = [await client.post(CHAT, json=ASK) for _ in range(2)]
    assert (first.status, first.headers["x-proxy-attempts"]) == (200, "1")
    assert (second.status, second.headers["x-proxy-attempts"]) == (200, "2")
    plain = await make_proxy({"models": [_mock("gpt-4o", mock_fail={"status": 500})]})
    resp = await plain.post(CHAT, json=ASK)
    assert resp.status == 500 and (await resp.json())["error"]["type"] == "api_error"


async def test_a_mock_stall_longer_than_the_timeout_is_a_timeout(make_proxy):
    doc = {"models": [_mock("gpt-4o", mock_stall_ms=60_000, timeout_s=0.05)]}
    resp = await (await make_proxy(doc)).post(CHAT, json=ASK)
    assert resp.status == 504 and (await resp.json())["error"]["code"] == "upstream_timeout"


async def test_a_cut_mock_stream_ends_with_an_error_event_in_the_clients_format(make_proxy, sink):
    client = await make_proxy({"models": [_mock("claude", mock_cut_after_chunks=2)]})
    resp = await client.post(
        "/v1/messages",
        json={"model": "claude", "max_tokens": 9, "messages": ASK["messages"], "stream": True},
    )
    text = await resp.read()
    *_, last = text.strip().split(b"\n\n")
    assert text.count(b"event: ") == 3 and last.startswith(b"event: error\ndata: ")
    assert orjson.loads(last.split(b"data: ", 1)[1])["error"]["type"] == "api_error"
    resp = await client.post(CHAT, json={**ASK, "model": "claude", "stream": True})
    *_, last = (await resp.read()).strip().split(b"\n\n")
    assert orjson.loads(last.removeprefix(b"data: "))["error"]["code"] == "upstream_stream_error"
    records = await sink.wait_for(2)
    assert [(r.status, r.error) for r in records] == [(502, "upstream_stream_error")] * 2


async def test_an_anthropic_stream_cut_upstream_ends_with_anthropics_error_event(
    make_proxy, upstream
):
    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'event: ping\ndata: {"type":"ping"}\n\n')
        request.transport.abort()
        return resp

    upstream.handler = cut
    doc = {"models": [{"model_name": "claude", "provider": "anthropic", "api_base": upstream.url,
                       "api_key": "sk-ant-0001"}]}  # fmt: skip
    client = await make_proxy(doc)
    resp = await client.post(
        "/v1/messages",
        json={"model": "claude", "max_tokens": 9, "messages": ASK["messages"], "stream": True},
    )
    text = await resp.read()
    assert text.startswith(b"event: ping")
    assert text.endswith(b"\n\n") and b"\n\nevent: error\ndata: " in text


async def test_a_fallback_that_cannot_express_the_request_is_skipped(make_proxy, upstream):
    upstream.handler = _status(503)
    doc = {
        "models": [
            _route(upstream.url, fallbacks=["claude", "m"]),
            {"model_name": "claude", "provider": "anthropic", "api_base": upstream.url,
             "api_key": "sk-ant-0001"},
            _mock("m"),
        ]
    }  # fmt: skip
    client = await make_proxy(doc)
    resp = await client.post(CHAT, json={**ASK, "n": 2})  # Anthropic has no `n`
    assert resp.status == 200 and resp.headers["x-proxy-route"] == "m"
    assert resp.headers["x-proxy-attempts"] == "2" and len(upstream.seen) == 1
