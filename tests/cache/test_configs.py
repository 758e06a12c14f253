"""proxy.cache.configs: tenant documents in the real Redis: compare-and-set, sealing, TTL, invalidation."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import orjson
import pytest
from redis.asyncio import Redis

from proxy.cache.configs import CHANNEL, ConfigCache, config_key, holds_api_key, version_key
from proxy.keyring import KeyRing
from proxy.redis_gate import RedisGate, RedisUnavailable
from tests.helpers import free_port

PLAIN = {"default": {"provider": "mock"}}
KEYED = {"models": [{"model_name": "m", "provider": "openai", "api_key": "sk-cached-secret-42"}]}
RING = KeyRing((("k1", os.urandom(32)),))


def cache(redis, *, ttl=1234, keyring=RING) -> ConfigCache:
    return ConfigCache(redis, RedisGate(2.0), ttl=ttl, keyring=keyring)


@pytest.fixture
def user() -> str:
    return "u-" + uuid.uuid4().hex  # pub/sub is server-wide: other test runs share the channel


async def test_a_document_round_trips_with_the_ttl(redis_client, user):
    configs = cache(redis_client)
    assert await configs.get(user) == (None, b"")
    assert await configs.put(user, PLAIN, b"") is True
    assert await configs.get(user) == (PLAIN, b"")
    assert orjson.loads(await redis_client.get(config_key(user))) == PLAIN  # plain JSON at rest
    assert 1200 < await redis_client.ttl(config_key(user)) <= 1234


async def test_a_write_with_a_version_read_before_an_invalidation_is_refused(redis_client, user):
    configs = cache(redis_client)
    _, before = await configs.get(user)
    await configs.invalidate(user)
    assert await configs.put(user, PLAIN, before) is False
    assert await redis_client.exists(config_key(user)) == 0
    _, now = await configs.get(user)
    assert now != before
    assert await configs.put(user, PLAIN, now) is True


async def test_invalidate_deletes_bumps_the_version_and_publishes_the_user(redis_client, user):
    configs = cache(redis_client, ttl=60)
    await configs.put(user, PLAIN, b"")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(CHANNEL)
    try:
        await configs.invalidate(user)
        async with asyncio.timeout(5):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None and message["data"] == user.encode():
                    break
    finally:
        await pubsub.aclose()
    assert await configs.get(user) == (None, b"1")
    # The version outlives any document written under the old one (an hour at least).
    assert 3500 < await redis_client.ttl(version_key(user)) <= 3600


async def test_a_document_with_a_key_is_sealed_for_its_user(redis_client, user):
    configs = cache(redis_client)
    assert await configs.put(user, KEYED, b"") is True
    stored = await redis_client.get(config_key(user))
    assert stored.startswith(b"enc:v1:k1:") and b"sk-cached-secret-42" not in stored
    assert (await configs.get(user))[0] == KEYED
    other = user + "-other"
    await redis_client.set(config_key(other), stored)  # replayed under another user
    assert (await configs.get(other))[0] is None


async def test_without_a_key_ring_a_keyed_document_is_never_written(redis_client, user):
    configs = cache(redis_client, keyring=None)
    default_keyed = {"default": {"provider": "openai", "api_key": "sk-d"}}
    assert await configs.put(user, default_keyed, b"") is False
    assert await redis_client.exists(config_key(user)) == 0
    await cache(redis_client).put(user, KEYED, b"")  # sealed by a worker that has the key
    assert (await configs.get(user))[0] is None  # unreadable here: refetched, not served


@pytest.mark.parametrize(
    "stored",
    [
        b"{not json",
        b"enc:v1:k1:bm90IGEgdmFsaWQgc2VhbA==",
        b"enc:v1:k1-no-colon",
        KeyRing((("retired", os.urandom(32)),)).seal(orjson.dumps(PLAIN), "x"),
    ],
)
async def test_an_unreadable_cached_value_is_a_miss_and_a_warning(redis_client, stored, caplog):
    await redis_client.set(config_key("x"), stored)
    with caplog.at_level(logging.WARNING, "proxy.cache"):
        assert (await cache(redis_client).get("x"))[0] is None
    assert [r.levelno for r in caplog.records if r.name == "proxy.cache"] == [logging.WARNING]


async def test_cached_json_that_is_not_an_object_is_a_miss(redis_client):
    await redis_client.set(config_key("x"), b"[1, 2]")
    assert (await cache(redis_client).get("x"))[0] is None


def test_holds_api_key_looks_at_every_route_and_the_default():
    assert holds_api_key(KEYED) and holds_api_key({"default": {"api_key": "k"}})
    assert not holds_api_key(PLAIN)
    assert not holds_api_key({"models": None, "default": None})
    assert not holds_api_key({"models": [{"api_key": ""}, "junk"]})


async def test_an_unreachable_redis_is_redis_unavailable():
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        configs = cache(down)
        with pytest.raises(RedisUnavailable):
            await configs.get("u")
    finally:
        await down.aclose()
