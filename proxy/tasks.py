"""Tracked background tasks: nothing is fire-and-forget.

One `TaskSet` per app keeps a reference to every task it spawns (so none is
garbage-collected mid-flight), logs failures, and is drained at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("proxy.tasks")


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "background task failed",
                exc_info=exc,
                extra={"task": task.get_name()},
            )

    async def close(self, grace: float) -> None:
        """Wait up to `grace` seconds for running tasks, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        if pending:
            log.warning(
                "background tasks still running after the grace period; cancelling them",
                extra={"tasks": sorted(t.get_name() for t in pending)},
            )
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
