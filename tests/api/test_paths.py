"""Request targets through the real app, both modes: target forms and traversals.

The gateway's route points at `http://vllm` (a name the test's resolver maps to the
real upstream); every other name resolves to an "evil" listener that must never
see a connection, whatever the request line or headers say.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp.abc import AbstractResolver

from proxy.api import paths
from proxy.app import create_app
from proxy.errors import InvalidPathError, InvalidUserIdError, NotFoundError
from proxy.settings import Settings
from tests.conftest import JWT_SECRET, openai_route
from tests.helpers import GatewayTestServer, Upstream, mint_jwt

ROUTE_KEY = "sk-route-key-0001"


class SplitResolver(AbstractResolver):
    """`vllm` is the configured upstream; any other name is the evil listener."""

    def __init__(self, upstream_port: int, evil_port: int) -> None:
        self.upstream_port, self.evil_port = upstream_port, evil_port

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        port = self.upstream_port if host == "vllm" else self.evil_port
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


@asynccontextmanager
async def evil_listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Counts connections: each is recorded with what arrived before it was closed."""
    seen: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(b"")
        try:
            seen[-1] = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


class Gateway:
    """A running gateway in one mode, its upstream, and how to call it raw."""

    def __init__(self, client: Any, upstream: Upstream, prefix: str, auth: str) -> None:
        self.client, self.upstream, self.prefix, self.auth = client, upstream, prefix, auth
        self.host, port = str(client.make_url("")).removeprefix("http://").rstrip("/").split(":")
        self.port = int(port)

    async def send(
        self, target: str, *, method: str = "POST", headers: str = "", host: bool = True
    ) -> tuple[int, bytes]:
        """The request line exactly as given; a JSON chat body; the mode's credentials."""
        body = b'{"model": "gpt-4o-mini"}'
        head = f"{method} {target} HTTP/1.1\r\n"
        if host:
            head += f"Host: {self.host}:{self.port}\r\n"
        head += (
            f"{self.auth}Connection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        )
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        head_bytes, _, payload = data.partition(b"\r\n\r\n")
        return int(head_bytes.split(b" ", 2)[1]), payload


@pytest.fixture(params=["static", "multi_tenant"])
async def gateway(
    request, aiohttp_client, aiohttp_server, write_config, sink, config_api, mt_env
) -> AsyncIterator[tuple[Gateway, list[bytes]]]:
    upstream = Upstream()
    server = await aiohttp_server(upstream.app())
    route = openai_route("http://vllm", api_key=ROUTE_KEY, timeout_s=2)
    async with evil_listener() as (evil_port, evil_seen):
        resolver = SplitResolver(server.port, evil_port)
        if request.param == "static":
            environ = {"PROXY_CONFIG": write_config({"models": [route]}), "PROXY_REQUEST_LOG": "0"}
            prefix, auth = "", ""
        else:
            config_api.docs["bob"] = {"models": [route]}
            environ = mt_env
            prefix = "/users/bob"
            auth = f"Authorization: Bearer {mint_jwt('bob', JWT_SECRET)}\r\n"
        app = await create_app(Settings.from_env(environ), sinks=[sink], dns_resolver=resolver)
        client = await aiohttp_client(GatewayTestServer(app))
        yield Gateway(client, upstream, prefix, auth), evil_seen


def _error(body: bytes) -> dict[str, Any]:
    doc = orjson.loads(body)
    assert set(doc) == {"error"} and set(doc["error"]) == {"message", "type", "code", "param"}
    return doc["error"]  # type: ignore[no-any-return]


CHAT = "/v1/chat/completions"


async def test_the_configured_upstream_answers_an_origin_form_target(gateway):
    gw, evil = gateway
    status, _ = await gw.send(gw.prefix + CHAT)
    assert status == 200
    assert [(s.path, s.headers["authorization"]) for s in gw.upstream.seen] == [
        (CHAT, "Bearer " + ROUTE_KEY)
    ]
    assert evil == []


@pytest.mark.parametrize(
    "form",
    [
        "evil://x{p}",
        "evil://x:9999{p}",
        "http://evil{p}",
        "http://evil:8443{p}",
        "https://evil{p}",
        "https://evil:443{p}",
        "http://user:pw@evil{p}",
        "http://user@evil:81{p}",
        "HTTP://EVIL{p}",
        "http://vllm{p}",  # even naming the configured host
        "http://evil{p}?x=1",
    ],
)
async def test_absolute_form_targets_are_400_and_reach_no_upstream(gateway, form):
    gw, evil = gateway
    status, body = await gw.send(form.format(p=gw.prefix + CHAT))
    assert status == 400
    error = _error(body)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_path")
    assert "evil" not in error["message"]
    assert gw.upstream.seen == []
    assert evil == []


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "http://evil/healthz"),
        ("GET", "http://evil/readyz"),
        ("GET", "http://evil/metrics"),
        ("GET", "http://evil/unknown"),
        ("OPTIONS", "http://evil/v1/chat/completions"),
        ("DELETE", "http://evil/admin/cache/users/bob"),
    ],
)
async def test_absolute_form_is_400_on_every_path(gateway, method, target):
    gw, evil = gateway
    status, body = await gw.send(target, method=method)
    assert status == 400
    assert _error(body)["code"] == "invalid_path"
    assert gw.upstream.seen == [] and evil == []


NOT_ROUTABLE = [
    ("POST", "evil:443"),  # authority-form: refused by aiohttp's parser
    ("POST", "*"),  # asterisk-form: refused by the parser
    ("POST", "v1/chat/completions"),  # no leading slash: refused by the parser
    ("POST", "users/bob/v1/chat/completions"),
    ("CONNECT", "evil:443"),  # authority-form: no path, matches no route
    ("CONNECT", "/v1/chat/completions"),  # aiohttp reads it as an authority all the same
    ("OPTIONS", "*"),  # asterisk-form: matches no route
]


@pytest.mark.parametrize(("method", "target"), NOT_ROUTABLE)
async def test_targets_refused_before_any_handler_reach_nobody(gateway, method, target):
    gw, evil = gateway
    status, _ = await gw.send(target, method=method)
    assert status in (400, 404)
    assert gw.upstream.seen == [] and evil == []


@pytest.mark.parametrize(("method", "target"), NOT_ROUTABLE)
async def test_targets_refused_before_any_handler_are_invalid_path_json(gateway, method, target):
    gw, _ = gateway
    status, body = await gw.send(target, method=method)
    assert status == 400
    assert _error(body)["code"] == "invalid_path"


async def test_host_and_forwarding_headers_never_move_the_request(gateway):
    gw, evil = gateway
    hostile = (
        "Host: evil:1\r\n"
        "X-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n"
        "X-Forwarded-Prefix: /evil\r\nX-Forwarded-Server: evil\r\nForwarded: host=evil\r\n"
        "X-Original-URL: http://evil/v1/x\r\nX-Rewrite-URL: http://evil/v1/x\r\n"
        "X-Original-Host: evil\r\nX-Host: evil\r\nX-Provider-API-Key: sk-evil-key\r\n"
    )
    status, _ = await gw.send(gw.prefix + CHAT, headers=hostile, host=False)
    assert status == 200
    (seen,) = gw.upstream.seen
    assert (seen.path, seen.headers["authorization"]) == (CHAT, "Bearer " + ROUTE_KEY)
    assert not any("evil" in value for value in seen.headers.values()), seen.headers
    assert evil == []


TRAVERSALS_AFTER_V1 = [
    "/v1/../admin",
    "/v1/%2e%2e/admin",
    "/v1/%2E%2E/admin",
    "/v1/%2E./admin",
    "/v1/.%2e/admin",
    "/v1/./chat/completions",
    "/v1/%2e/chat/completions",
    "/v1/files/..",
    "/v1/files/a%2fb",
    "/v1/files/a%2Fb",
    "/v1/files/a%5cb",
    "/v1/files/a%5Cb",
    "/v1/files/a\\b",
    "/v1/files/..%2F..%2Fadmin",
]


@pytest.mark.parametrize("path", TRAVERSALS_AFTER_V1)
async def test_traversals_and_encoded_slashes_after_v1_are_invalid_path(gateway, path):
    gw, evil = gateway
    status, body = await gw.send(gw.prefix + path)
    assert status == 400, path
    assert _error(body)["code"] == "invalid_path"
    assert gw.upstream.seen == [] and evil == []


@pytest.mark.parametrize(
    "path",
    [
        "/x/../v1/models",  # not a proxied path before decoding: still a traversal
        "/x/%2e%2e/v1/models",
        "/healthz/..",
        "/v1%2fmodels",
    ],
)
async def test_traversals_outside_proxied_paths_are_invalid_path(gateway, path):
    gw, _ = gateway
    status, body = await gw.send(path, method="GET")
    assert status == 400, path
    assert _error(body)["code"] == "invalid_path"


@pytest.mark.parametrize(
    "user",
    [
        "..%2F..%2Fadmin",
        "..",
        ".",
        "%2e%2e",
        "%2E%2e",
        "%2E.",
        ".%2e",
        "%2e",
        "a%2fb",
        "a%2Fb",
        "a%5cb",
        "a%5Cb",
        "a\\b",
        "bob%2F..%2F..",
    ],
)
async def test_traversals_in_the_user_id_segment_are_invalid_path(make_mt_proxy, config_api, user):
    client = await make_mt_proxy(AUTH_MODE="none")
    gw = Gateway(client, Upstream(), "", "")
    status, body = await gw.send(f"/users/{user}/v1/models", method="GET")
    assert status == 400, user
    assert _error(body)["code"] == "invalid_path"
    assert config_api.calls == {}


async def test_a_double_encoded_slash_is_text_not_a_slash(gateway, make_mt_proxy):
    """Decoded once: `%252f` is the three characters `%2f`, forwarded as `%252f`."""
    gw, _ = gateway
    status, _ = await gw.send(gw.prefix + "/v1/files/a%252fb", method="GET")
    assert status == 200
    assert [s.path for s in gw.upstream.seen] == ["/v1/files/a%2fb"]  # as the upstream decodes it
    mt = Gateway(await make_mt_proxy(AUTH_MODE="none"), Upstream(), "", "")
    status, body = await mt.send("/users/a%252fb/v1/models", method="GET")
    assert status == 400
    assert _error(body)["code"] == "invalid_user_id"  # `%` is no user id character


async def test_a_percent_encoded_user_id_is_decoded_before_it_is_checked(make_mt_proxy, config_api):
    config_api.docs["bob"] = {"models": [openai_route("http://vllm")]}
    gw = Gateway(await make_mt_proxy(AUTH_MODE="none"), Upstream(), "", "")
    status, body = await gw.send("/users/%62ob/v1/models", method="GET")
    assert status == 200
    assert [m["id"] for m in orjson.loads(body)["data"]] == ["gpt-4o-mini"]
    assert config_api.calls == {"bob": 1}


def test_split_user_target_answers_the_same_from_its_memo_and_refuses_afresh():
    target = "/users/memo-user/v1/chat/completions?q=1"
    split = ("memo-user", "/v1/chat/completions", "q=1")
    assert paths.split_user_target(target) == split
    assert paths._USER_TARGETS[target] == split
    assert paths.split_user_target(target) == split
    for refused, error in (
        ("/users/-bad/v1/chat/completions", InvalidUserIdError),
        ("/users/memo-user/v2/chat", NotFoundError),
        ("/users/memo-user", NotFoundError),
        ("/users/memo-user/v1/%2e%2e/x", InvalidPathError),
        ("http://host/users/memo-user/v1/chat", InvalidPathError),
    ):
        for _ in range(2):  # a refusal is never remembered
            with pytest.raises(error):
                paths.split_user_target(refused)
        assert refused not in paths._USER_TARGETS


def test_split_path_answers_the_same_from_its_memo_and_refuses_afresh():
    target = "/v1/chat/%63ompletions?x=%2F"
    assert paths.split_path(target) == ("/v1/chat/completions", "x=%2F")
    assert paths._TARGETS[target] == ("/v1/chat/completions", "x=%2F")
    assert paths.split_path(target) == ("/v1/chat/completions", "x=%2F")
    for refused in ("/v1/a/../b", "*", "/v1/%2f", "/v1/\\x"):
        for _ in range(2):
            with pytest.raises(InvalidPathError):
                paths.split_path(refused)
        assert refused not in paths._TARGETS


def test_the_memos_keep_no_long_target_and_stay_small(monkeypatch):
    long_target = "/users/u/v1/" + "x" * 300
    assert paths.split_user_target(long_target) == ("u", "/v1/" + "x" * 300, "")
    assert paths.split_path(long_target) == (long_target, "")
    assert long_target not in paths._USER_TARGETS and long_target not in paths._TARGETS
    monkeypatch.setattr(paths, "_MEMO_SIZE", 3)
    for i in range(10):
        paths.split_path(f"/v1/n{i}")
        assert len(paths._TARGETS) <= 3
