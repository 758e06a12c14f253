"""The worker's Redis client on a redis-server of the test's own: a frozen server costs one
timeout and one connection, never retries; the readiness check says so. On a Redis
Cluster: found from one seed node, and pub/sub moves from node to node."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from proxy.cache.redis_client import (
    RedisCheck,
    close_redis,
    discover,
    open_pubsub,
    open_redis,
)
from proxy.redis_gate import RedisGate
from tests.redis_cluster import LocalCluster

TIMEOUT = 0.4


@pytest.fixture
async def client(own_redis):
    redis = open_redis(own_redis.url, TIMEOUT)
    yield redis
    own_redis.thaw()
    await redis.aclose(close_connection_pool=True)


async def _connections_received(url: str) -> int:
    async with Redis.from_url(url, socket_timeout=5) as inspector:
        return int((await inspector.info("stats"))["total_connections_received"])


async def test_a_frozen_server_costs_one_timeout_and_one_connection_then_the_client_recovers(
    own_redis, client
):
    assert await client.ping() is True
    before = await _connections_received(own_redis.url)  # the client's and the inspector's
    own_redis.freeze()
    started = time.monotonic()
    with pytest.raises(RedisTimeoutError):
        await client.ping()
    elapsed = time.monotonic() - started
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT * 2  # one socket timeout, no retry after it
    own_redis.thaw()
    # No retry reconnected behind the caller's back: only the next inspector connected.
    assert await _connections_received(own_redis.url) == before + 1
    assert await client.ping() is True  # a fresh connection, not the half-read one


async def test_connecting_to_a_frozen_server_is_bounded_too(own_redis):
    own_redis.freeze()  # the kernel still accepts: the handshake is what goes unanswered
    redis = open_redis(own_redis.url, TIMEOUT)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await redis.set("k", "v")
        assert time.monotonic() - started < TIMEOUT * 2
    finally:
        own_redis.thaw()
        await redis.aclose(close_connection_pool=True)


async def test_readiness_is_ok_while_redis_answers_and_unreachable_when_it_is_frozen(
    own_redis, client
):
    check = RedisCheck(client, RedisGate(TIMEOUT))
    assert check.name == "redis"
    assert await check.check() is None
    own_redis.freeze()
    started = time.monotonic()
    assert await check.check() == "unreachable"
    assert time.monotonic() - started < TIMEOUT * 2
    own_redis.thaw()
    await own_redis.stop()
    assert await RedisCheck(client, RedisGate(TIMEOUT)).check() == "unreachable"  # refused


async def test_a_cluster_is_found_from_one_seed_node_and_each_node_is_used(redis_cluster):
    client = open_redis(redis_cluster.url, 2.0, cluster=True)
    try:
        await discover(client)
        for tenant in ("a", "b", "c", "d", "e", "f"):  # several slots: several nodes
            await client.set(f"spend:{{{tenant}}}:2026-11", 1)
        sizes = [await client.dbsize(target_nodes=node) for node in client.get_primaries()]
        assert len(sizes) == 3 and sum(sizes) >= 6
        assert await RedisCheck(client, RedisGate(2.0)).check() is None
        subscribed = []
        for attempt in range(3):  # each try at subscribing goes to the next node
            pubsub = await open_pubsub(client, attempt)
            await pubsub.subscribe("config-invalidate")
            subscribed.append(pubsub.get_pubsub_node().port)  # type: ignore[attr-defined]
            await pubsub.aclose()
        assert sorted(subscribed) == sorted(redis_cluster.ports)
    finally:
        await client.flushdb()
        await close_redis(client)


async def test_a_cluster_that_is_down_is_unreachable_not_an_error(tmp_path):
    gate = RedisGate(TIMEOUT)
    client = open_redis("redis://127.0.0.1:1", TIMEOUT, cluster=True)  # nothing listens
    try:
        await discover(client)  # logged, not raised
        assert await RedisCheck(client, gate).check() == "unreachable"
    finally:
        await close_redis(client)


async def test_readiness_on_a_cluster_fails_when_a_node_is_down(tmp_path):
    from tests.redis_cluster import cluster_binaries

    binaries = cluster_binaries()
    if binaries is None:
        pytest.skip("redis-server and redis-cli are not installed")
    cluster = LocalCluster.start(tmp_path, binaries)
    client = open_redis(cluster.url, TIMEOUT, cluster=True)
    try:
        assert await RedisCheck(client, RedisGate(TIMEOUT)).check() is None
        cluster.stop_node(2)
        assert await RedisCheck(client, RedisGate(TIMEOUT)).check() == "unreachable"
    finally:
        await close_redis(client)
        cluster.stop()
