"""The retry budget (SPEC 12): retries cannot multiply an outage.

Per worker and (tenant, route): the retries of the last 10 s may add at most 20 %
to that window's first tries, plus 3. Past it a failure is passed through instead of
retried. The window is ten one-second buckets, so a key costs constant memory
whatever the traffic; the clock is injected (monotonic seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_S = 10
RATIO = 0.2
MIN_RETRIES = 3
MAX_KEYS = 10_000  # per worker; past it the oldest windows are forgotten


class _Window:
    __slots__ = ("firsts", "retries", "second")

    def __init__(self, second: int) -> None:
        self.firsts = [0] * WINDOW_S
        self.retries = [0] * WINDOW_S
        self.second = second  # the newest bucket's second

    def advance(self, now: int) -> None:
        """Empty the buckets of the seconds that passed since the newest one."""
        gap = now - self.second
        if gap <= 0:
            return
        for s in range(self.second + 1, self.second + 1 + min(gap, WINDOW_S)):
            self.firsts[s % WINDOW_S] = self.retries[s % WINDOW_S] = 0
        self.second = now


class RetryBudget:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str | None, str], _Window] = {}

    def first_try(self, tenant: str | None, route: str) -> None:
        """Count a request's first try on a route (its retries draw on these)."""
        now = int(self._clock())
        window = self._window((tenant, route), now)
        window.firsts[now % WINDOW_S] += 1

    def spend(self, tenant: str | None, route: str) -> bool:
        """Take one retry if the window allows it; False: pass the failure through."""
        now = int(self._clock())
        window = self._window((tenant, route), now)
        if sum(window.retries) + 1 > RATIO * sum(window.firsts) + MIN_RETRIES:
            return False
        window.retries[now % WINDOW_S] += 1
        return True

    def _window(self, key: tuple[str | None, str], now: int) -> _Window:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= MAX_KEYS:
                self._windows.pop(next(iter(self._windows)))
            window = self._windows[key] = _Window(now)
        window.advance(now)
        return window
