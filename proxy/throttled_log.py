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
    """At most one line per `interval` seconds per key; the rest are counted.

    A key is a kind of warning and what it is about (`connect:api.openai.com`). The
    count of lines held back goes out as `suppressed` with the key's next line. At most
    `max_keys` keys are remembered: past that, keys whose interval has passed are
    forgotten, with any count they held.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 4096,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, **fields: Any) -> None:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        if last is None and len(self._last) >= self._max_keys:
            self._forget_before(now - self._interval)
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        self._logger.warning(message, extra={**fields, "suppressed": suppressed})

    def _forget_before(self, moment: float) -> None:
        for key in [key for key, last in self._last.items() if last <= moment]:
            del self._last[key]
            self._suppressed.pop(key, None)
