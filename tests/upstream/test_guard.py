"""SSRF: where tenant requests may go, checked on the address actually connected to."""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import asynccontextmanager

import pytest
from aiohttp.abc import AbstractResolver

from proxy.errors import UpstreamForbiddenError
from proxy.upstream.guard import DestinationPolicy
from tests.conftest import bearer, openai_route

STRICT = DestinationPolicy(strict=True)
STATIC = DestinationPolicy(strict=False)

METADATA = [
    "169.254.169.254",
    "169.254.0.1",
    "fd00:ec2::254",
    "100.100.100.200",
    "fe80::1",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
]
PRIVATE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "224.0.0.1",
]


@pytest.mark.parametrize("address", METADATA)
def test_metadata_and_link_local_are_always_refused(address):
    for policy in (
        STRICT,
        STATIC,
        DestinationPolicy(strict=True, allow_private=True, allowed_hosts=frozenset({"h"})),
    ):
        with pytest.raises(UpstreamForbiddenError):
            policy.check("h", address)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_are_refused_in_multi_tenant_mode_only(address):
    with pytest.raises(UpstreamForbiddenError):
        STRICT.check("example.com", address)
    STATIC.check("example.com", address)
    DestinationPolicy(strict=True, allow_private=True).check("example.com", address)
    DestinationPolicy(strict=True, allowed_hosts=frozenset({"vllm.internal"})).check(
        "VLLM.internal", address
    )


def test_public_addresses_pass():
    for address in ("8.8.8.8", "2606:4700:4700::1111"):
        STRICT.check("example.com", address)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1"])
def test_numeric_spellings_are_refused_before_resolving(host):
    with pytest.raises(UpstreamForbiddenError):
        STATIC.check_host(host)
    STATIC.check_host("127.0.0.1")  # the canonical form is left to the address check
    STATIC.check_host("api.example.com")


class StubResolver(AbstractResolver):
    """DNS for the test: names map to fixed addresses."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        return [
            {
                "hostname": host,
                "host": self.table[host],
                "port": port,
                "family": socket.AF_INET6 if ":" in self.table[host] else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


@asynccontextmanager
async def sinkhole():
    """A listener on 127.0.0.1 that counts connections (and bytes) and answers nothing."""
    seen = {"connections": 0, "bytes": 0}
    writers = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        writers.append(writer)
        while chunk := await reader.read(65536):  # holds the connection open, answers nothing
            seen["bytes"] += len(chunk)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_refused_destinations_get_a_403_and_zero_bytes(make_mt_proxy, config_api):
    async with sinkhole() as (port, seen):
        resolver = StubResolver({"rebind.test": "127.0.0.1", "meta.test": "169.254.169.254"})
        bases = {
            "u1": f"http://rebind.test:{port}",  # a name that resolves to loopback
            "u2": f"http://[::ffff:127.0.0.1]:{port}",  # IPv6-mapped loopback
            "u3": f"http://2130706433:{port}",  # decimal 127.0.0.1
            "u4": f"http://0x7f000001:{port}",  # hex
            "u5": f"http://user@127.0.0.1:{port}",  # userinfo in front of the address
            "u6": f"http://127.0.0.1:{port}",
            "u7": "http://meta.test",
        }
        for user, base in bases.items():
            config_api.docs[user] = {"models": [openai_route(base)]}
        client = await make_mt_proxy(dns_resolver=resolver, UPSTREAM_ALLOW_PRIVATE="0")
        for user in bases:
            resp = await client.post(
                f"/users/{user}/v1/chat/completions",
                json={"model": "gpt-4o-mini"},
                headers=bearer(user),
            )
            assert resp.status == 403, user
            error = (await resp.json())["error"]
            assert error["code"] == "upstream_forbidden", user
            assert "127.0.0.1" not in error["message"] and "169.254" not in error["message"]
        assert seen == {"connections": 0, "bytes": 0}


async def test_allowed_hosts_and_allow_private_open_private_destinations(make_mt_proxy, config_api):
    async with sinkhole() as (port, seen):
        resolver = StubResolver({"vllm.internal": "127.0.0.1", "meta.test": "169.254.169.254"})
        config_api.docs["v1"] = {
            "models": [openai_route(f"http://vllm.internal:{port}", timeout_s=0.5)]
        }
        config_api.docs["v2"] = {"models": [openai_route("http://meta.test", timeout_s=0.5)]}
        client = await make_mt_proxy(
            dns_resolver=resolver,
            UPSTREAM_ALLOW_PRIVATE="0",
            UPSTREAM_ALLOWED_HOSTS="vllm.internal",
        )
        resp = await client.post(
            "/users/v1/v1/chat/completions", json={"model": "gpt-4o-mini"}, headers=bearer("v1")
        )
        assert resp.status == 504  # it connected (the sinkhole never answers)
        assert seen["connections"] == 1
        meta = await client.post(
            "/users/v2/v1/chat/completions", json={"model": "gpt-4o-mini"}, headers=bearer("v2")
        )
        assert meta.status == 403  # the allowlist never opens metadata addresses


async def test_static_mode_refuses_metadata_but_allows_loopback(make_proxy, upstream):
    client = await make_proxy(
        {
            "models": [
                openai_route(upstream.url),
                openai_route("http://169.254.169.254", model="meta"),
            ]
        }
    )
    assert (await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})).status == 200
    meta = await client.post("/v1/chat/completions", json={"model": "meta"})
    assert meta.status == 403


async def test_refused_destinations_log_one_line_per_host_not_per_request(make_proxy, caplog):
    caplog.set_level(logging.WARNING, logger="proxy.upstream")
    client = await make_proxy(
        {
            "models": [
                openai_route("http://169.254.169.254", model="meta"),
                openai_route("http://169.254.0.1", model="other"),
            ]
        }
    )
    for model in ["meta"] * 20 + ["other"] * 20:
        resp = await client.post("/v1/chat/completions", json={"model": model})
        assert resp.status == 403
    lines = [r for r in caplog.records if r.getMessage() == "upstream destination refused"]
    assert [(r.host, r.suppressed) for r in lines] == [  # type: ignore[attr-defined]
        ("169.254.169.254", 0),
        ("169.254.0.1", 0),
    ]
