"""A serving worker's own process state: stop signals held and released, GC tuned."""

from __future__ import annotations

import gc
import signal
import threading

from proxy.worker import (
    GC_GEN0_THRESHOLD,
    STOP_SIGNALS,
    hold_stop_signals,
    release_stop_signals,
    tune_gc,
)


def test_a_stop_signal_held_since_fork_is_delivered_once_released():
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        hold_stop_signals()
        assert STOP_SIGNALS <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
        assert signal.SIGTERM in signal.sigpending() and received == []  # held, not lost
        release_stop_signals()
        assert received == [signal.SIGTERM]
        assert not STOP_SIGNALS & signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        signal.signal(signal.SIGTERM, previous)


def test_tune_gc_freezes_what_exists_and_raises_the_young_threshold():
    threshold = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
