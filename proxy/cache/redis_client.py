"""The worker's Redis client (opened by `proxy.contexts.redis_ctx`), and its readiness check.

One Redis, or a Redis Cluster (REDIS_CLUSTER=1: REDIS_URL is a seed node; redis-py's
asyncio `RedisCluster` finds the others and sends each command to the node holding
its slot). Callers see one `RedisClient` either way: every key a multi-key command or
script touches shares a hash tag, so it is one slot on a cluster.

The client never retries (redis-py retries ten times by default, which would turn a
frozen Redis into a frozen gateway) and waits at most REDIS_TIMEOUT for a connection
or an answer. Calls go through the `RedisGate` (proxy.redis_gate).
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxy.redis_gate import REDIS_FAILURES, RedisClient, RedisGate, RedisUnavailable

log = logging.getLogger("proxy.redis")
MAX_CONNECTIONS = 64  # per worker; beyond it a call waits (within REDIS_TIMEOUT)
# redis-py's cluster client does not wait for a free connection: past its limit a call
# fails (and shuts the gate), so a cluster node gets a roomier limit per worker.
CLUSTER_MAX_CONNECTIONS = 512
DISCOVERY_TIMEOUT_S = 5.0  # a cluster's discovery (slots and command table), at start


def open_redis(url: str, timeout: float, *, cluster: bool = False) -> RedisClient:
    if cluster:
        # Connects on its first command (so a cluster that is down fails that command,
        # within the gate, not the worker's start).
        return RedisCluster.from_url(
            url,
            max_connections=CLUSTER_MAX_CONNECTIONS,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,  # waiting for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


async def discover(client: RedisClient) -> None:
    """At a worker's start, learn a cluster's nodes and slots (and the command table
    redis-py reads), so no request pays for it. A failure is logged, not raised: the
    first command tries again, through the gate."""
    if not isinstance(client, RedisCluster):
        return
    try:
        async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
            await client.initialize()
    except REDIS_FAILURES as e:
        log.warning(
            "redis cluster discovery failed; retried on first use", extra={"error": repr(e)}
        )


async def close_redis(client: RedisClient) -> None:
    if isinstance(client, RedisCluster):
        await client.aclose()
        # redis-py's aclose does nothing while the client waits to re-discover the
        # cluster (after a node failed): close every node's connections either way.
        await client.nodes_manager.aclose()
        await client.nodes_manager.aclose("startup_nodes")
    else:
        await client.aclose(close_connection_pool=True)  # a pool passed in is not closed


async def open_pubsub(client: RedisClient, attempt: int) -> PubSub:
    """A pub/sub connection for the `attempt`-th try at subscribing.

    A cluster forwards every PUBLISH to every node, so one connection to any node
    hears every message: attempt n uses node n (mod the nodes known), so a node that
    failed is left for the next one.
    """
    if not isinstance(client, RedisCluster):
        return client.pubsub()
    await client.initialize()
    nodes = client.get_nodes()
    return client.pubsub(node=nodes[attempt % len(nodes)])


class RedisCheck:
    """Readiness: Redis (every primary of a cluster) answers PING within the timeout."""

    name = "redis"

    def __init__(self, redis: RedisClient, gate: RedisGate) -> None:
        self._redis = redis
        self._gate = gate

    async def check(self) -> str | None:
        try:
            await self._gate.probe(self._ping, "ping")
        except RedisUnavailable:
            return "unreachable"
        return None

    async def _ping(self) -> None:
        if not isinstance(self._redis, RedisCluster):
            await self._redis.ping()
            return
        await self._redis.initialize()
        # Every primary, one after the other (a plain PING asks one node; redis-py's
        # all-primaries PING leaves the failures after the first unretrieved).
        for node in self._redis.get_primaries():
            await self._redis.ping(target_nodes=node)
