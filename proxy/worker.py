"""What a serving worker process does to itself: hold stop signals, tune the collector.

gunicorn's `post_fork` hook holds the stop signals until the worker's event loop runs
(`proxy.serving.post_fork`); the worker releases them from inside its loop and tunes
the cycle collector once its app has started (`proxy.app`). Apart from the wiring
modules that call it, nothing imports this.
"""

from __future__ import annotations

import gc
import signal

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
# Container objects a worker may hold beyond what it frees before a young-generation
# collection runs. CPython's 700 is crossed by the objects of ~30 in-flight requests
# alone, so under load the collector ran every few dozen requests and found nothing:
# the hot path makes (almost) no reference cycles, and refcounting frees the rest.
GC_GEN0_THRESHOLD = 10_000


def hold_stop_signals() -> None:
    """Block the stop signals: they stay pending until `release_stop_signals`."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release_stop_signals() -> None:
    """Called by the worker from inside its running event loop (proxy.app)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def tune_gc() -> None:
    """Tune the cycle collector for a serving worker; call once its app has started.

    Measured with bench.relay (wrk c50, one worker): the collector took about 10 % of
    the worker's CPU, half of it in full collections that scanned every module,
    config and metric object (~60k objects, ~30 ms each, a pause every few thousand
    requests). Freezing what exists at start-up takes those objects out of every
    later collection; the higher threshold stops collections triggered by nothing
    but in-flight requests. Cyclic garbage is still collected, just in larger steps.
    """
    gc.collect()  # what is garbage now must not be frozen forever
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
