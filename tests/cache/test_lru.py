"""L1: least recently used goes first; entries expire by their own TTL."""

from __future__ import annotations

from proxy.cache.lru import TTLCache


def test_lru_eviction_and_ttl():
    now = [0.0]
    cache: TTLCache[str] = TTLCache(2, clock=lambda: now[0])
    cache.set("a", "A", 10)
    cache.set("b", "B", 1)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.set("c", "C", 10)  # evicts b, the least recently used
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    now[0] = 10.0
    assert cache.get("a") is None and len(cache) == 1
    cache.pop("c")
    assert len(cache) == 0
