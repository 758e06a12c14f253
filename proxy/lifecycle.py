"""The app's run state, for the few hot-path decisions that depend on it."""

from __future__ import annotations

import time


class Lifecycle:
    """One per app. `draining`: the listener is closed and the worker is about to
    stop, so responses ask clients not to reuse their connection. `stop_by`: the
    monotonic time by which shutdown must be over (gunicorn kills the worker then)."""

    __slots__ = ("draining", "stop_by")

    def __init__(self) -> None:
        self.draining = False
        self.stop_by: float | None = None

    def start_draining(self, grace_s: float) -> None:
        self.draining = True
        self.stop_by = time.monotonic() + grace_s

    def remaining(self, default_s: float) -> float:
        """Seconds of shutdown left (a worker not stopped by the runner gets `default_s`)."""
        if self.stop_by is None:
            return default_s
        return max(0.0, self.stop_by - time.monotonic())
