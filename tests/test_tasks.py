"""proxy.tasks: TaskSet keeps every task until it ends, logs failures, and drains at close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.tasks import TaskSet


async def test_a_task_is_held_while_it_runs_and_released_when_done():
    tasks, release = TaskSet(), asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    task = tasks.spawn(work(), name="work")
    assert len(tasks) == 1 and task.get_name() == "work"
    release.set()
    assert await task == "done"
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert len(tasks) == 0


async def test_a_failure_is_logged_with_the_task_name_and_traceback(caplog):
    tasks = TaskSet()

    async def boom() -> None:
        raise RuntimeError("kaput")

    task = tasks.spawn(boom(), name="boomer")
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)
    (record,) = [r for r in caplog.records if r.name == "proxy.tasks"]
    assert (record.levelno, record.getMessage(), record.task) == (
        logging.ERROR,
        "background task failed",
        "boomer",
    )
    assert record.exc_info is not None and "kaput" in str(record.exc_info[1])
    assert len(tasks) == 0


async def test_a_cancelled_task_is_not_reported_as_a_failure(caplog):
    tasks = TaskSet()
    task = tasks.spawn(asyncio.Event().wait(), name="idle")
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert [r for r in caplog.records if r.name == "proxy.tasks"] == []
    assert len(tasks) == 0


async def test_close_lets_tasks_that_finish_within_the_grace_period_finish(caplog):
    tasks, finished = TaskSet(), []

    async def short() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        finished.append(True)

    task = tasks.spawn(short(), name="short")
    await tasks.close(grace=5.0)
    assert finished == [True] and not task.cancelled()
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


async def test_close_cancels_stragglers_after_the_grace_period_and_names_them(caplog):
    tasks, cleaned_up = TaskSet(), asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    task = tasks.spawn(stuck(), name="stuck")
    quick = tasks.spawn(asyncio.sleep(0), name="quick")
    await tasks.close(grace=0.05)
    assert task.cancelled() and cleaned_up.is_set()  # cancelled and awaited, not abandoned
    assert quick.done() and not quick.cancelled()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.tasks == ["stuck"]
    assert len(tasks) == 0


async def test_close_with_nothing_running_returns_at_once():
    tasks = TaskSet()
    async with asyncio.timeout(0.5):
        await tasks.close(grace=60.0)


@pytest.mark.xfail(
    strict=True,
    reason="close() only waits for the tasks that existed when it started: a task spawned "
    "during the grace period is neither awaited nor cancelled, and outlives close()",
)
async def test_close_also_drains_a_task_spawned_during_the_grace_period():
    tasks = TaskSet()
    spawned: list[asyncio.Task[None]] = []

    async def hands_off() -> None:
        await asyncio.sleep(0)
        spawned.append(tasks.spawn(asyncio.Event().wait(), name="late"))

    tasks.spawn(hands_off(), name="first")
    try:
        await tasks.close(grace=0.05)
        assert spawned and spawned[0].done()
        assert len(tasks) == 0
    finally:
        for task in spawned:
            task.cancel()
