"""L1: least recently used goes first; entries are fresh for their own TTL, and a stale
entry can be revived for a bounded window when its refresh fails."""

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
    assert cache.get("a") is None
    cache.pop("c")
    assert cache.get("c") is None and cache.revive("c", 1, 1) is None


def test_a_stale_entry_revives_for_a_window_after_its_first_revival():
    now = [0.0]
    cache: TTLCache[str] = TTLCache(2, clock=lambda: now[0])
    cache.set("a", "A", 10)
    now[0] = 50.0
    assert cache.get("a") is None  # past its TTL: not served as fresh
    assert cache.revive("a", 5, 12) == "A"  # window: until 62
    assert cache.get("a") == "A"  # fresh again for 5 s
    now[0] = 55.0
    assert cache.get("a") is None
    assert cache.revive("a", 5, 12) == "A"  # the window does not restart
    now[0] = 61.0
    assert cache.get("a") is None  # freshness never outlasts the window
    now[0] = 62.0
    assert cache.revive("a", 5, 12) is None
    assert len(cache) == 0
    cache.set("a", "A2", 10)  # a successful refresh starts afresh
    now[0] = 100.0
    assert cache.revive("a", 5, 12) == "A2"


def test_expire_all_makes_entries_due_and_keeps_them():
    now = [0.0]
    cache: TTLCache[str] = TTLCache(2, clock=lambda: now[0])
    cache.set("a", "A", 10)
    cache.set("b", "B", 10)
    cache.expire_all()
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, None, 2)
    assert cache.revive("b", 5, 300) == "B"
