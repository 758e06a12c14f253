"""One send: a single try on the guarded session, with the route's URL, key, body and
timeout; transport failures as typed errors that name no address."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from proxy.errors import UpstreamConnectError, UpstreamForbiddenError, UpstreamTimeoutError
from proxy.route import Route
from proxy.upstream.send import Send, Timeouts, UpstreamURLs
from tests.helpers import free_port, make_call, upstream_session


def _route(url: str, provider: str = "openai", **extra: object) -> Route:
    return Route(provider=provider, api_base=url, api_key="sk-route-key-0001", **extra)  # type: ignore[arg-type]


async def test_one_try_goes_to_the_routes_url_with_its_key_and_the_clients_body(upstream):
    call = make_call(query="a=1&b=2", headers={"Authorization": "Bearer client-token"})
    async with upstream_session() as session:
        response = await Send(session, connect_timeout=5).send(call, _route(upstream.url))
        assert response.status == 200
        assert orjson.loads(await response.read())["object"] == "chat.completion"
    (seen,) = upstream.seen
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/chat/completions", "a=1&b=2")
    assert seen.headers["authorization"] == "Bearer sk-route-key-0001"
    assert seen.body == b'{"model":"gpt-4o-mini"}'
    assert call.sent_wall > 0 and call.sent > 0 and not call.drop_usage


async def test_openai_chat_streams_ask_for_usage_and_the_call_remembers_it(upstream):
    body = b'{"model":"gpt-4o-mini","stream":true}'
    async with upstream_session() as session:
        send = Send(session, connect_timeout=5)
        openai = make_call(body)
        (await send.send(openai, _route(upstream.url))).release()
        anthropic = make_call(body, path="/v1/messages")
        (await send.send(anthropic, _route(upstream.url, "anthropic"))).release()
    assert openai.drop_usage and not anthropic.drop_usage
    asked, untouched = upstream.seen
    assert orjson.loads(asked.body)["stream_options"] == {"include_usage": True}
    assert untouched.body == body
    assert untouched.headers["x-api-key"] == "sk-route-key-0001"


async def test_an_unreachable_upstream_is_a_connect_error_naming_no_address():
    port = free_port()
    async with upstream_session() as session:
        with pytest.raises(UpstreamConnectError) as info:
            await Send(session, connect_timeout=5).send(
                make_call(), _route(f"http://127.0.0.1:{port}")
            )
    assert info.value.kind == "connect"
    assert "127.0.0.1" not in info.value.message and str(port) not in info.value.message


async def test_no_answer_within_the_routes_timeout_is_a_timeout_error(upstream):
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    upstream.handler = stall
    async with upstream_session() as session:
        try:
            with pytest.raises(UpstreamTimeoutError) as info:
                await Send(session, connect_timeout=5).send(
                    make_call(), _route(upstream.url, timeout_s=0.1)
                )
        finally:
            release.set()
    assert info.value.kind == "timeout"


async def test_urls_with_credentials_are_refused_before_any_connection(upstream):
    host = upstream.url.removeprefix("http://")
    async with upstream_session() as session:
        with pytest.raises(UpstreamForbiddenError):
            await Send(session, connect_timeout=5).send(make_call(), _route(f"http://user@{host}"))
    assert upstream.seen == []


def test_timeouts_and_urls_are_built_once_and_reused():
    timeouts = Timeouts(connect_cap=2.0)
    first = timeouts.for_route(30.0)
    assert timeouts.for_route(30.0) is first
    assert (first.sock_read, first.sock_connect, first.total) == (30.0, 2.0, None)
    urls = UpstreamURLs(size=2)
    url = urls.get("http://x", "/v1/a", "q=1")
    assert str(url) == "http://x/v1/a?q=1" and urls.get("http://x", "/v1/a", "q=1") is url
