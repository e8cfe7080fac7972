"""Ctrl-C during a Lava run: the workers ignore it, the main process stops them and exits.

lava-nc 0.10 runs a network as forked worker processes (one per Lava process, one per runtime
service) that talk over shared-memory channels whose waits have no timeout. A terminal's Ctrl-C
sends SIGINT to the whole process group, so each worker used to die with a ``KeyboardInterrupt``
traceback; the main process then either waited for their answers for good, or (when the signal
came while Lava was forking) lost its own ``KeyboardInterrupt`` in an at-fork callback and started
the next run on dead workers. ``Runtime.stop()`` cannot help: it waits for the dead workers too.

* :func:`signals_held` holds Ctrl-C (and SIGTERM) back while Lava forks its workers and delivers it
  when the block ends; the workers forked inside it keep its handler, which ignores SIGINT outside
  the main process (SIGTERM still ends them).
* :func:`abort_runtime` ends a run without Lava's STOP handshake: the workers are terminated (killed
  after ``timeout`` seconds) and reaped, and the shared-memory manager is shut down, which unlinks
  the channels' ``/dev/shm`` segments.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Sequence

__all__ = ["signals_held", "abort_runtime", "terminate"]


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM inside the block and deliver them after; processes forked inside ignore
    SIGINT for good and die of SIGTERM as by default.

    The handlers installed for the block record a signal in this process. In a forked child
    (``os.getpid()`` differs), which keeps them after the block, SIGINT does nothing and SIGTERM
    kills the process (how :func:`terminate` stops workers). On exit the previous handlers are
    restored and held-back signals are raised again, so with Python's default SIGINT handler the
    block ends with ``KeyboardInterrupt`` (and with ``snnkit.cli``'s SIGTERM handler, ``Terminated``).
    Outside the main thread (where handlers cannot be set), or for a signal whose handler was not
    set from Python, the block leaves that signal alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    caught: List[int] = []

    def hold(signum: int, frame: Any) -> None:
        if os.getpid() == owner:
            caught.append(signum)
        elif signum == signal.SIGTERM:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old = signal.getsignal(sig)
        if old is not None:
            previous[sig] = old
            signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def terminate(procs: Sequence[multiprocessing.process.BaseProcess], timeout: float = 5.0) -> None:
    """SIGTERM the live processes among ``procs`` (children of this process), SIGKILL those still alive
    after ``timeout`` seconds, and reap them all (no zombies)."""
    mine = [p for p in procs if getattr(p, "_popen", None) is not None and p._parent_pid == os.getpid()]
    for p in mine:
        if p.exitcode is None:
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in mine:
        multiprocessing.process.BaseProcess.join(p, max(0.0, deadline - time.monotonic()))
    for p in mine:
        if p.exitcode is None:
            p.kill()
            multiprocessing.process.BaseProcess.join(p)


def abort_runtime(runtime: Optional[Any], timeout: float = 5.0) -> None:
    """End a Lava ``Runtime`` without its STOP handshake (its workers may be dead or busy).

    Terminates and reaps the runtime's worker processes (:func:`terminate`), then lets Lava's
    message infrastructure join them and shut down its shared-memory manager (unlinking the
    channels' shared memory), and marks the runtime stopped so that ``Runtime.__del__`` does not
    wait for the workers again. Does nothing for ``None``.
    """
    if runtime is None:
        return
    infra = getattr(runtime, "_messaging_infrastructure", None)
    runtime._is_running = runtime._is_started = False
    if infra is None:
        return
    terminate(list(infra.actors), timeout)
    if infra.smm is not None:
        infra.stop()
    watchdog = getattr(runtime, "_watchdog_manager", None)
    if watchdog is not None:
        watchdog.stop()
