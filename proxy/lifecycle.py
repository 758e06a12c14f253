"""The app's run state, for the few hot-path decisions that depend on it."""

from __future__ import annotations


class Lifecycle:
    """One per app. `draining`: the listener is closed and the worker is about to
    stop, so responses ask clients not to reuse their connection."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False
