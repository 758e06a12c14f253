"""Circuit breakers (SPEC 12): one per (tenant, route) in each worker.

A breaker counts consecutive failures of its route (refused or reset connections,
timeouts, 5xx answers); `failures` of them in a row open it for `cooldown_s`, during
which the route is not tried. After the cooldown one request is let through
(half-open) while the others are still refused: its success closes the breaker, its
failure opens it again. Any answer that is not a failure (2xx-4xx, 429 included)
resets the run. Keyed by tenant, so one tenant's bad key never opens another
tenant's breaker; per worker, so workers share nothing (as every in-process cache).

The clock is injected (monotonic seconds); nothing here awaits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from proxy.route import BreakerPolicy

Clock = Callable[[], float]

_CLOSED, _OPEN, _HALF_OPEN = 0, 1, 2
MAX_BREAKERS = 10_000  # per worker; closed breakers are forgotten first past it


class Breaker:
    """One route's breaker for one tenant."""

    __slots__ = ("_policy", "_clock", "_on_open", "_state", "_run", "_opened_at", "_probing")

    def __init__(self, policy: BreakerPolicy, clock: Clock, on_open: Callable[[], None]) -> None:
        self._policy = policy
        self._clock = clock
        self._on_open = on_open
        self._state = _CLOSED
        self._run = 0  # consecutive failures
        self._opened_at = 0.0
        self._probing = False  # the half-open probe is out

    @property
    def is_closed(self) -> bool:
        return self._state == _CLOSED

    @property
    def is_open(self) -> bool:
        """Open, or half-open with its probe out: requests are not let through."""
        return self._state != _CLOSED

    def allow(self) -> bool:
        """May a request try the route now? In half-open state, True once: the probe."""
        if self._state == _CLOSED:
            return True
        if self._probing:
            return False
        if self._clock() - self._opened_at < self._policy.cooldown_s:
            return False
        self._state = _HALF_OPEN
        self._probing = True
        return True

    def retry_after(self) -> int:
        """Whole seconds of cooldown left, rounded up, at least 1."""
        left = self._policy.cooldown_s - (self._clock() - self._opened_at)
        return max(1, math.ceil(left))

    def success(self) -> None:
        """An answer that is not a failure: the run ends, a probe closes the breaker."""
        self._run = 0
        self._probing = False
        self._state = _CLOSED

    def failure(self) -> None:
        self._run += 1
        if self._state == _HALF_OPEN or self._run >= self._policy.failures:
            if self._state != _OPEN:
                self._on_open()
            self._state = _OPEN
            self._opened_at = self._clock()
            self._probing = False

    def abandon(self) -> None:
        """The probe ended with no verdict (the client left): let another probe go."""
        self._probing = False


class Breakers:
    """The worker's breakers, made on first use; counts for /metrics."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._breakers: dict[tuple[str | None, str], Breaker] = {}
        self.opened = 0  # times a breaker opened, since start

    def get(self, tenant: str | None, route: str, policy: BreakerPolicy) -> Breaker:
        key = (tenant, route)
        found = self._breakers.get(key)
        if found is None or found._policy != policy:  # a changed config starts afresh
            if len(self._breakers) >= MAX_BREAKERS:
                self._forget_closed()
            found = self._breakers[key] = Breaker(policy, self._clock, self._opened)
        return found

    def open_count(self) -> int:
        return sum(1 for breaker in self._breakers.values() if breaker.is_open)

    def _opened(self) -> None:
        self.opened += 1

    def _forget_closed(self) -> None:
        for key in [k for k, b in self._breakers.items() if b.is_closed]:
            del self._breakers[key]
