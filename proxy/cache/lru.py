"""A per-process LRU with a freshness TTL per entry: L1 of the config cache.

`get` answers fresh entries only. An entry past its TTL is not dropped: it stays
(until the LRU evicts it) as the fallback `revive` hands out when refreshing it
fails (stale-if-error, RFC 5861), for at most `window` seconds after its first
revival. `set` (a successful refresh) starts the entry afresh. `hits` counts the
fresh answers `get` gave (a running total, for the metrics to read).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")
_UNLIMITED = float("inf")


class TTLCache(Generic[V]):
    """At most `size` entries; the least recently used goes first."""

    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        # key -> (fresh until, value, usable as a fallback until)
        self._data: OrderedDict[str, tuple[float, V, float]] = OrderedDict()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> V | None:
        """The value while it is fresh, else None (a stale value stays for `revive`)."""
        data = self._data
        try:  # a subscript, not OrderedDict.get: half the cost of a hit (a miss goes to I/O)
            item = data[key]
        except KeyError:
            return None
        if item[0] <= self._clock():
            return None
        data.move_to_end(key)
        self.hits += 1
        return item[1]

    def set(self, key: str, value: V, ttl: float) -> None:
        self._data[key] = (self._clock() + ttl, value, _UNLIMITED)
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)

    def revive(self, key: str, ttl: float, window: float) -> V | None:
        """Serve a value whose refresh failed: fresh again for `ttl`, for up to `window`
        seconds after its first revival (never past that); None, and dropped, after it."""
        item = self._data.get(key)
        if item is None:
            return None
        now = self._clock()
        usable_until = item[2] if item[2] != _UNLIMITED else now + window
        if usable_until <= now:
            del self._data[key]
            return None
        self._data[key] = (min(now + ttl, usable_until), item[1], usable_until)
        self._data.move_to_end(key)
        return item[1]

    def expire_all(self) -> None:
        """Make every entry due for a refresh; the values stay as fallbacks."""
        for key, (_, value, usable_until) in list(self._data.items()):
            self._data[key] = (-_UNLIMITED, value, usable_until)

    def pop(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()
