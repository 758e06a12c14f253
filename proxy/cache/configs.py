"""L2 of the config cache: tenant documents in Redis, shared by every worker and replica.

`config:<user>` holds the document as JSON, or sealed with the key ring when it
contains an `api_key` (without a key ring such documents are not written at all).
`{config:<user>}:v` is a version counter (same Redis Cluster slot): invalidation
bumps it and deletes the document, and a write is a compare-and-set against the
version read before fetching, so a fetch that started before an invalidation can
never put the old document back.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from proxy.keyring import KeyRing, SealedValueError, UnknownKeyError
from proxy.redis_gate import RedisClient, RedisGate

log = logging.getLogger("proxy.cache")

CHANNEL = "config-invalidate"
_WRITE_IF_VERSION = """
local v = redis.call('GET', KEYS[2]) or ''
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def config_key(user_id: str) -> str:
    return f"config:{user_id}"


def version_key(user_id: str) -> str:
    return "{" + config_key(user_id) + "}:v"


def holds_api_key(doc: Any) -> bool:
    routes = list(doc.get("models") or []) + [doc.get("default") or {}]
    return any(isinstance(r, dict) and r.get("api_key") for r in routes)


class ConfigCache:
    def __init__(
        self, redis: RedisClient, gate: RedisGate, *, ttl: int, keyring: KeyRing | None
    ) -> None:
        self._redis = redis
        self._gate = gate
        self._ttl = ttl
        self._keyring = keyring
        self._write = redis.register_script(_WRITE_IF_VERSION)

    async def get(self, user_id: str) -> tuple[dict[str, Any] | None, bytes]:
        """(document or None, version to write back with). Raises RedisUnavailable."""
        key, vkey = config_key(user_id), version_key(user_id)
        found = await self._gate.run(lambda: self._redis.mget(key, vkey), "config get")
        value, version = (v if isinstance(v, bytes) else None for v in found)
        return (self._decode(user_id, value) if value else None), (version or b"")

    async def put(self, user_id: str, doc: dict[str, Any], version: bytes) -> bool:
        """Store unless invalidated since `version` was read. Raises RedisUnavailable."""
        raw = orjson.dumps(doc)
        if holds_api_key(doc):
            if self._keyring is None:
                return False  # keys never reach Redis in the clear
            raw = self._keyring.seal(raw, user_id)
        keys_ = [config_key(user_id), version_key(user_id)]
        written = await self._gate.run(
            lambda: self._write(keys=keys_, args=[version, raw, self._ttl]), "config put"
        )
        return bool(written)

    async def invalidate(self, user_id: str) -> None:
        """Delete the document everywhere and tell every worker. Raises RedisUnavailable."""

        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(version_key(user_id))
                pipe.expire(version_key(user_id), max(self._ttl, 3600))
                pipe.delete(config_key(user_id))
                await pipe.execute()
            await self._redis.publish(CHANNEL, user_id)

        await self._gate.run(run, "config invalidate")

    def _decode(self, user_id: str, value: bytes) -> dict[str, Any] | None:
        try:
            if KeyRing.is_sealed(value):
                if self._keyring is None:
                    return None
                value = self._keyring.open(value, user_id)
            doc = orjson.loads(value)
        except UnknownKeyError as e:
            log.warning("cached config sealed under an unknown key", extra={"key_id": e.key_id})
            return None
        except (SealedValueError, orjson.JSONDecodeError):
            log.warning("cached config unreadable; fetching it again", extra={"user_id": user_id})
            return None
        return doc if isinstance(doc, dict) else None
