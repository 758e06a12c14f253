"""Script calls go to the real Redis in one round trip on a connection of their own: a
script Redis lacks is loaded and the calls answered in order; an error comes back as
that call's reply; a round trip cut off leaves no half-read connection behind."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.exceptions import ResponseError

from proxy.accounting.script_pipeline import ScriptPipeline
from proxy.cache.redis_client import close_redis, open_redis
from tests.conftest import _service_missing
from tests.helpers import OwnRedis, free_port

INCRBY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def fresh_script(body: str = INCRBY) -> tuple[str, str]:
    """A script no Redis has seen (a unique comment), and its SHA-1."""
    script = f"-- {uuid.uuid4()}\n{body}"
    return script, hashlib.sha1(script.encode()).hexdigest()


@pytest.fixture
async def pipelines(
    redis_target, redis_client
) -> AsyncIterator[Callable[[str, str], ScriptPipeline]]:
    client = open_redis(redis_target.url, 2.0, cluster=redis_target.cluster)
    made: list[ScriptPipeline] = []

    def make(script: str, sha: str) -> ScriptPipeline:
        made.append(ScriptPipeline(client, script, sha))
        return made[-1]

    yield make
    for pipeline in made:
        await pipeline.close()
    await close_redis(client)


async def test_a_missing_script_is_loaded_and_every_call_answered_in_order(pipelines, redis_client):
    script, sha = fresh_script()
    assert await redis_client.script_exists(sha) == [False]
    calls = [(1, "n:{a}", 2), (1, "n:{b}", 5), (1, "n:{a}", 3)]
    pipeline = pipelines(script, sha)
    assert await pipeline.send(calls) == [2, 5, 5]
    assert await redis_client.script_exists(sha) == [True]
    assert await pipeline.send(calls[:1]) == [7]


async def test_a_failing_call_is_its_reply_and_the_others_still_count(pipelines, redis_client):
    await redis_client.set("text", "not a number")
    replies = await pipelines(*fresh_script()).send([(1, "text", 1), (1, "n", 4)])
    assert isinstance(replies[0], ResponseError)
    assert replies[1] == 4


@pytest.fixture
async def echo_on_own_redis() -> AsyncIterator[tuple[OwnRedis, ScriptPipeline]]:
    """A pipeline of a script answering its argument, on a Redis of its own (the tests
    freeze it: never the shared one)."""
    if shutil.which("redis-server") is None:
        _service_missing("redis-server is not installed")
    redis = OwnRedis()
    await redis.start()
    client = open_redis(redis.url, 2.0)
    pipeline = ScriptPipeline(client, *fresh_script("return ARGV[1]"))
    try:
        yield redis, pipeline
    finally:
        await pipeline.close()
        await close_redis(client)
        await redis.stop()


async def test_a_round_trip_cut_off_does_not_leave_its_reply_for_the_next(echo_on_own_redis):
    redis, pipeline = echo_on_own_redis
    assert await pipeline.send([(0, "first")]) == [b"first"]
    redis.freeze()  # the caller gives up waiting, as RedisGate's timeout does
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await pipeline.send([(0, "late")])
    redis.thaw()  # Redis now answers "late", to a connection that is gone
    assert await pipeline.send([(0, "next")]) == [b"next"]


async def test_a_round_trip_past_its_deadline_fails_and_the_next_gets_its_own_reply(
    echo_on_own_redis,
):
    redis, pipeline = echo_on_own_redis
    loop = asyncio.get_running_loop()
    assert await pipeline.send([(0, "first")], loop.time() + 2.0) == [b"first"]
    redis.freeze()
    with pytest.raises(TimeoutError):
        await pipeline.send([(0, "late")], loop.time() + 0.1)
    redis.thaw()  # Redis now answers "late", to a connection that is gone
    assert await pipeline.send([(0, "next")], loop.time() + 2.0) == [b"next"]
    redis.freeze()  # a connection opened past the deadline fails the same way
    await pipeline.close()
    with pytest.raises(TimeoutError):
        await pipeline.send([(0, "unopened")], loop.time() + 0.1)
    redis.thaw()
    assert await pipeline.send([(0, "again")], loop.time() + 2.0) == [b"again"]


async def test_round_trips_over_tls(tmp_path):
    """The replies are read off the socket redis-py opened, TLS included (`rediss://`)."""
    import trustme

    if shutil.which("redis-server") is None:
        _service_missing("redis-server is not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(tmp_path / "cert.pem"),
        "--tls-key-file", str(tmp_path / "key.pem"),
        "--tls-ca-cert-file", str(tmp_path / "ca.pem"), "--tls-auth-clients", "no",
        "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    client = open_redis(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}", 2.0)
    pipeline = ScriptPipeline(client, *fresh_script("return ARGV[1]"))
    try:
        assert server.stdout is not None
        async with asyncio.timeout(10):
            async for line in server.stdout:
                if b"Ready to accept connections" in line:
                    break
        loop = asyncio.get_running_loop()
        calls = [(0, f"v{i}") for i in range(60)]
        assert await pipeline.send(calls, loop.time() + 5) == [f"v{i}".encode() for i in range(60)]
        assert await pipeline.send([(0, "again")], loop.time() + 5) == [b"again"]
    finally:
        await pipeline.close()
        await close_redis(client)
        server.terminate()
        await server.wait()
