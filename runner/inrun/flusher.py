"""Writes logged metrics in the background, so ``run.log`` never waits for disk.

One daemon thread per process serves every run with unwritten values. It writes
at least every half second, and everything is written at ``flush()``, at
interpreter exit (atexit) and on SIGTERM, so a process killed with SIGKILL loses
at most what it logged in the last second.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import weakref
from typing import Protocol

INTERVAL = 0.5


class _Flushable(Protocol):
    def _write_pending(self) -> None: ...

    def _on_terminate(self) -> None: ...


# Keyed by id(): Run handles compare equal by run id, and a WeakSet would keep only
# one of two handles on the same run, leaving the other's values unwritten.
_runs: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
_thread_pid: int | None = None
_sigterm_installed = False


def register(run: _Flushable) -> None:
    """Have ``run`` flushed in the background from now on."""
    global _thread, _thread_pid
    with _lock:
        _runs[id(run)] = run
        if _thread is None or _thread_pid != os.getpid() or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="runner-metrics", daemon=True)
            _thread_pid = os.getpid()
            _thread.start()
            _install_sigterm()


def _loop() -> None:
    busy = 0.0
    while True:
        # A write that took long means values arrive fast: start the next one sooner,
        # so the backlog held in memory stays about INTERVAL's worth of values.
        _wake.wait(max(0.0, INTERVAL - busy))
        _wake.clear()
        started = time.monotonic()
        flush_all()
        busy = time.monotonic() - started


def flush_all() -> None:
    """Write every registered run's pending values now."""
    for run in list(_runs.values()):
        try:
            run._write_pending()
        except Exception:
            import logging

            logging.getLogger(__name__).warning(
                "could not write metrics of run %s", getattr(run, "id", "?"), exc_info=True)


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
    flush_all()
    for run in list(_runs.values()):
        try:
            run._on_terminate()
        except Exception:  # noqa: BLE001
            pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


atexit.register(flush_all)
