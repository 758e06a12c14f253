"""Rate-limited warnings: a dependency that keeps failing logs once per interval, not per call.

SPEC section 10: repeated warnings (an upstream refusing connections, Redis down, a
webhook failing) are limited per kind: at most one line per `interval` seconds per
key, carrying the count of lines suppressed since the last one. A leaf module, so the
Redis gate, the Config API client and the telemetry sender can all use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    """At most one line per `interval` seconds per key; the rest are counted."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, **fields: Any) -> None:
        now = self._clock()
        if now - self._last.get(key, -1e18) < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        self._logger.warning(message, extra={**fields, "suppressed": suppressed})
