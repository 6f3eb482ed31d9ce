"""Writes logged metrics in the background, so ``run.log`` never waits for disk.

One daemon thread per process serves every run with unwritten values. It writes
every quarter second (``INTERVAL``), and everything is written at ``flush()``, at
interpreter exit (atexit), on SIGTERM and when a ``multiprocessing`` worker ends
(its ``os._exit`` skips atexit), so a process killed with SIGKILL loses at most
what it logged in about the last second.

What keeps that promise under load:

- A drain of many names is made durable as one journal row, then moved into
  metric chunks in bounded steps (:mod:`runner.store.metric_journal`).
- Backpressure: when a run's writer is behind (its durable write took longer
  than ``INTERVAL``, or too much waits to be moved), logging calls wait (at most
  ``MAX_BLOCK`` seconds each) until it has caught up, instead of letting the
  unwritten backlog, and the loss window, grow.
- Starvation: a thread that makes short blocking calls in a tight loop takes the
  GIL back before the writer wakes, and could starve it for ever. Logging calls
  check now and then (:func:`check_late`) and, when the last cycle is older than
  ``LATE``, wait for one.

After ``os.fork()`` the child starts with empty buffers (the parent writes what
was logged before the fork) and its own writer thread.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from typing import Protocol

INTERVAL = 0.25
#: Longest a logging call waits for a writer that fell behind.
MAX_BLOCK = 2.0


class _Flushable(Protocol):
    def _write_pending(self, complete: bool = True) -> bool | None: ...

    def _on_terminate(self) -> None: ...


# Keyed by id(): Run handles compare equal by run id, and a WeakSet would keep only
# one of two handles on the same run, leaving the other's values unwritten.
_runs: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
_thread_pid: int | None = None
_sigterm_installed = False
_caught_up = threading.Event()
_caught_up.set()
_mp_finalizer: list = []


def register(run: _Flushable) -> None:
    """Have ``run`` flushed in the background from now on."""
    global _thread, _thread_pid, _cycle_done
    with _lock:
        _runs[id(run)] = run
        if _thread is None or _thread_pid != os.getpid() or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="runner-metrics", daemon=True)
            _thread_pid = os.getpid()
            _cycle_done = time.monotonic()  # no cycle yet: it is not late
            _thread.start()
            _install_sigterm()
            if not _mp_finalizer and _in_worker():
                _flush_at_worker_exit()


def _loop() -> None:
    global _cycles, _cycle_done
    busy = 0.0
    while True:
        # A write that took long means values arrive fast: start the next one sooner,
        # so the backlog held in memory stays about INTERVAL's worth of values.
        _wake.wait(max(0.0, INTERVAL - busy))
        _wake.clear()
        started = time.monotonic()
        behind = flush_all(complete=False)
        now = time.monotonic()
        busy = now - started
        with _cycle:
            _cycles += 1
            _cycle_done = now
            _cycle.notify_all()
        _throttle(behind)


def _throttle(on: bool) -> None:
    """Make logging calls wait for the writer (``on``), or let them run free again."""
    if on == (not _caught_up.is_set()):
        return
    if on:
        _caught_up.clear()
    for run in list(_runs.values()):
        throttle = getattr(run, "_throttle", None)
        if throttle is not None:
            throttle(on)
    if not on:
        _caught_up.set()


def wait_caught_up() -> None:
    """Called by a logging call while throttled: wait until the writer caught up."""
    if threading.current_thread() is _thread:  # pragma: no cover - never the writer
        return
    _wake.set()
    _caught_up.wait(MAX_BLOCK)


def flush_all(complete: bool = True) -> bool:
    """Write every registered run's pending values now; True if a writer is behind.

    ``complete=False`` (the background cycle, SIGTERM): what was logged is made
    durable, and moving a big backlog into metric chunks goes on for a bounded
    time only.
    """
    behind = False
    for run in list(_runs.values()):
        try:
            behind = bool(run._write_pending(complete)) or behind
        except Exception:
            import logging

            logging.getLogger(__name__).warning(
                "could not write metrics of run %s", getattr(run, "id", "?"), exc_info=True)
    return behind


#: Seconds since the writer's last cycle after which a logging call waits for one:
#: a thread that makes short blocking calls (a write, a read) in a tight loop takes
#: the GIL back before a waiting thread wakes, and can starve the writer for ever.
LATE = 0.5
_cycle = threading.Condition(threading.Lock())
_cycles = 0
_cycle_done = time.monotonic()


def check_late() -> None:
    """Called now and then by logging calls: if the writer is late, wait for a cycle.

    While this thread waits on a lock, it does not hold the GIL, so the writer
    runs; the wait is bounded by MAX_BLOCK.
    """
    if time.monotonic() - _cycle_done < LATE or _thread is None or \
            threading.current_thread() is _thread or not _thread.is_alive():
        return
    with _cycle:
        seen = _cycles
        _wake.set()
        _cycle.wait_for(lambda: _cycles != seen, MAX_BLOCK)


_trim: list = []
_trimmed_at = [0.0]


def release_memory() -> None:
    """Give freed heap memory back to the system, at most once a second (glibc).

    Fast logging frees many large buffers; glibc keeps them in the heap, so
    without this a process's memory would keep its high-water mark.
    """
    now = time.monotonic()
    if now - _trimmed_at[0] < 1.0:
        return
    _trimmed_at[0] = now
    if not _trim:
        try:
            import ctypes

            _trim.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _trim.append(None)
    if _trim[0] is not None:
        _trim[0](0)


def _install_sigterm() -> None:
    """Flush on SIGTERM, then die of it as before, if nobody else handles SIGTERM."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True
    except (ValueError, OSError):  # pragma: no cover - not the main thread/interpreter
        pass


def _on_sigterm(signum, frame) -> None:
    flush_all(complete=False)
    for run in list(_runs.values()):
        try:
            run._on_terminate()
        except Exception:
            import logging

            logging.getLogger(__name__).error(
                "could not record run %s as terminated; it stays as it was until a "
                "reader notices its owner is gone", getattr(run, "id", "?"), exc_info=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _after_fork_in_child() -> None:
    """Empty the child's buffers (the parent writes them) and let it write its own.

    A ``multiprocessing`` worker ends with ``os._exit``, which skips atexit: its
    values are flushed by a multiprocessing finalizer instead.
    """
    global _thread, _thread_pid, _lock, _caught_up, _cycle, _cycles, _cycle_done
    _lock = threading.Lock()
    _cycle = threading.Condition(threading.Lock())
    _cycles = 0
    _cycle_done = time.monotonic()
    _thread = None
    _thread_pid = None
    _caught_up = threading.Event()
    _caught_up.set()
    for run in list(_runs.values()):
        reset = getattr(run, "_after_fork", None)
        if reset is not None:
            reset()
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        # Registered for after multiprocessing's own bootstrap, which clears the
        # finalizers a forked worker inherited.
        util.register_after_fork(_after_fork_in_child, lambda _: _flush_at_worker_exit())


def _flush_at_worker_exit() -> None:
    """Flush when this multiprocessing worker ends (it exits with ``os._exit``)."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    _mp_finalizer.clear()
    _mp_finalizer.append(util.Finalize(None, flush_all, exitpriority=100))


def _in_worker() -> bool:
    """True in a multiprocessing child (spawn, forkserver), whose exit skips atexit."""
    process = sys.modules.get("multiprocessing.process")
    if process is None:
        return False
    return process.parent_process() is not None


atexit.register(flush_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
