"""proxy.cache.invalidation: the config-invalidate subscription against real Redis servers.

Losing the connection is tested on a redis-server (or Redis Cluster) of our own on
free ports, never on the shared one.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable

import pytest

from proxy.cache.configs import CHANNEL
from proxy.cache.invalidation import InvalidationSubscriber
from proxy.cache.redis_client import close_redis, open_redis
from proxy.redis_gate import RedisGate
from proxy.tasks import TaskSet
from tests.conftest import RedisTarget
from tests.redis_cluster import LocalCluster, cluster_binaries


class Seen:
    """What the subscriber reported, awaitable."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.states: list[bool] = []
        self._changed = asyncio.Event()

    def invalidate(self, user: str) -> None:
        self.users.append(user)
        self._changed.set()

    def state(self, subscribed: bool) -> None:
        self.states.append(subscribed)
        self._changed.set()

    async def until(self, holds: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not holds():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def run_subscriber():
    tasks, clients = TaskSet(), []

    def run(
        url: str, seen: Seen, *, cluster: bool = False, **options: float
    ) -> InvalidationSubscriber:
        redis = open_redis(url, 0.5, cluster=cluster)
        clients.append(redis)
        subscriber = InvalidationSubscriber(
            redis,
            RedisGate(0.5),
            on_invalidate=seen.invalidate,
            on_state=seen.state,
            timeout=options.pop("timeout", 0.5),
            **options,
        )
        tasks.spawn(subscriber.run(), name="subscriber")
        return subscriber

    yield run
    await tasks.close(grace=0)
    for redis in clients:
        await close_redis(redis)


async def test_a_published_invalidation_reaches_on_invalidate(
    redis_target: RedisTarget, redis_client, run_subscriber
):
    seen = Seen()
    subscriber = run_subscriber(redis_target.url, seen, cluster=redis_target.cluster)
    await seen.until(lambda: seen.states == [True])
    assert subscriber.subscribed
    user = "u-" + uuid.uuid4().hex  # the channel is server-wide: others may publish too
    await redis_client.publish(CHANNEL, user)
    await seen.until(lambda: user in seen.users)
    assert all(isinstance(u, str) for u in seen.users)


async def test_a_lost_connection_is_reported_once_and_the_subscription_comes_back(
    own_redis, run_subscriber
):
    seen = Seen()
    subscriber = run_subscriber(own_redis.url, seen, max_backoff=0.2)
    await seen.until(lambda: seen.states == [True])
    await own_redis.stop()
    await seen.until(lambda: seen.states == [True, False])
    assert not subscriber.subscribed
    await own_redis.start()  # same port: the retries with backoff find it again
    await seen.until(lambda: seen.states == [True, False, True])
    redis = open_redis(own_redis.url, 1.0)
    try:
        await redis.publish(CHANNEL, "back")
    finally:
        await redis.aclose(close_connection_pool=True)
    await seen.until(lambda: "back" in seen.users)


async def test_a_frozen_server_is_noticed_by_the_unanswered_ping(own_redis, run_subscriber):
    seen = Seen()
    run_subscriber(own_redis.url, seen, ping_interval=0.1, timeout=0.2)
    await seen.until(lambda: seen.states == [True])
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)  # the socket stays open; nothing answers
    try:
        await seen.until(lambda: seen.states == [True, False], within=3.0)
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)


async def test_cancelling_the_subscriber_stops_it_promptly(own_redis):
    seen = Seen()
    redis = open_redis(own_redis.url, 0.5)
    subscriber = InvalidationSubscriber(
        redis, RedisGate(0.5), on_invalidate=seen.invalidate, on_state=seen.state, timeout=0.5
    )
    tasks = TaskSet()
    task = tasks.spawn(subscriber.run(), name="subscriber")
    try:
        await seen.until(lambda: seen.states == [True])
        task.cancel()
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await redis.aclose(close_connection_pool=True)


@pytest.fixture
def own_cluster(tmp_path):
    binaries = cluster_binaries()
    if binaries is None:
        pytest.skip("redis-server and redis-cli are not installed")
    cluster = LocalCluster.start(tmp_path, binaries)
    yield cluster
    cluster.stop()


async def _subscribed_node(cluster: LocalCluster) -> int:
    """The index of the node holding the subscription (PUBSUB NUMSUB is per node)."""
    for i, port in enumerate(cluster.ports):
        redis = open_redis(f"redis://127.0.0.1:{port}", 1.0)
        try:
            [(_, count)] = await redis.pubsub_numsub(CHANNEL)
        finally:
            await close_redis(redis)
        if count:
            return i
    raise AssertionError("no node holds the subscription")


async def test_on_a_cluster_a_failed_node_is_left_for_another(own_cluster, run_subscriber):
    seen = Seen()
    run_subscriber(own_cluster.url, seen, cluster=True, max_backoff=0.2)
    await seen.until(lambda: seen.states == [True])
    failed = await _subscribed_node(own_cluster)
    own_cluster.stop_node(failed)
    await seen.until(lambda: seen.states == [True, False, True])
    live = own_cluster.ports[(failed + 1) % len(own_cluster.ports)]
    redis = open_redis(f"redis://127.0.0.1:{live}", 1.0)  # a PUBLISH reaches every node
    try:
        await redis.publish(CHANNEL, "moved")
    finally:
        await close_redis(redis)
    await seen.until(lambda: "moved" in seen.users)
