"""The worker's sessions against loopback peers: no cookies, no proxy variables, the guard."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from proxy.errors import UpstreamForbiddenError
from proxy.upstream.guard import DestinationPolicy
from proxy.upstream.session import build_control_session, build_session

METADATA = "http://169.254.169.254/latest/meta-data/"


def _peer() -> web.Application:
    """Sets a cookie, echoes the Cookie header back, redirects to the metadata address."""

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "tenant-a-secret")
        return response

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Cookie", ""))

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(METADATA)

    app = web.Application()
    app.router.add_get("/set", set_cookie)
    app.router.add_get("/echo", echo)
    app.router.add_get("/redirect", redirect)
    return app


@pytest.fixture
async def peer(aiohttp_server) -> str:
    server = await aiohttp_server(_peer())
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def tenant_session():
    session = build_session(8, 1.0, DestinationPolicy(strict=False))
    yield session
    await session.close()


@pytest.fixture
async def control_session():
    session = build_control_session(1.0)
    yield session
    await session.close()


@pytest.fixture(params=["tenant", "control"])
async def either_session(request):
    """Each session in turn: both keep the same hygiene."""
    if request.param == "tenant":
        session = build_session(8, 1.0, DestinationPolicy(strict=False))
    else:
        session = build_control_session(1.0)
    yield session
    await session.close()


async def test_a_cookie_one_upstream_sets_is_never_sent_again(either_session, peer):
    session: aiohttp.ClientSession = either_session
    async with session.get(f"{peer}/set") as resp:
        assert resp.cookies["session"].value == "tenant-a-secret"  # it was set...
    async with session.get(f"{peer}/echo") as resp:
        assert await resp.text() == ""  # ...and not kept


async def test_proxy_variables_in_the_environment_are_ignored(
    either_session, peer, aiohttp_server, monkeypatch
):
    relayed: list[str] = []

    async def forward_proxy(req: web.Request) -> web.Response:
        relayed.append(str(req.url))
        return web.Response(text="via proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward_proxy)
    proxy_url = str((await aiohttp_server(app)).make_url(""))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy_url)
    async with aiohttp.ClientSession(trust_env=True) as trusting, trusting.get(f"{peer}/echo"):
        assert relayed  # this environment would send a trusting session through the proxy
    relayed.clear()
    session: aiohttp.ClientSession = either_session
    async with session.get(f"{peer}/echo") as resp:
        assert resp.status == 200 and await resp.text() == ""
    assert relayed == []


async def test_the_tenant_session_refuses_a_metadata_address_even_behind_a_redirect(
    tenant_session, peer
):
    with pytest.raises(UpstreamForbiddenError):
        await tenant_session.get(METADATA)
    async with tenant_session.get(f"{peer}/redirect", allow_redirects=False) as resp:
        assert resp.status == 302  # how the proxy asks (upstream.send): the client gets it
    with pytest.raises(UpstreamForbiddenError):
        await tenant_session.get(f"{peer}/redirect")  # followed, the hop is vetted too


async def test_a_strict_tenant_session_refuses_loopback_where_the_control_session_connects(
    control_session, peer
):
    strict = build_session(8, 1.0, DestinationPolicy(strict=True))
    try:
        with pytest.raises(UpstreamForbiddenError):
            await strict.get(f"{peer}/echo")
    finally:
        await strict.close()
    async with control_session.get(f"{peer}/echo") as resp:
        assert resp.status == 200  # operator endpoints live on private networks
