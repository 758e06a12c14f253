"""What /readyz asks: the `ReadinessCheck` protocol, and static mode's check.

The Config API client and the Redis check implement the protocol where they live;
the wiring collects the checks of the running mode under `keys.READINESS`, and
`api/health` runs them. A leaf module, so `keys` can name the protocol without
importing the edge.
"""

from __future__ import annotations

from typing import Protocol


class ReadinessCheck(Protocol):
    name: str

    async def check(self) -> str | None:
        """None when ready, else a short reason (never a secret)."""


class StaticConfigCheck:
    """Static mode: the config was validated at start, so it is always there."""

    name = "config"

    async def check(self) -> str | None:
        return None
