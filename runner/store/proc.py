"""Who owns a run: a process identity (pid + start time) that survives pid reuse,
and ending a process tree.

Standard library first: the in-run side (a script in a bare virtualenv) may need
to record its identity without psutil. psutil is used when it is importable.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable

#: Two readings of one process's start time agree within this many seconds.
_TOLERANCE = 1.0


def _psutil():
    try:
        import psutil
    except ImportError:  # pragma: no cover - the in-run side in a bare venv
        return None
    return psutil


_BOOT_TIME: float | None = None


def _proc_start_time(pid: int) -> float | None:
    """Linux: start time from /proc, computed the way psutil does it."""
    global _BOOT_TIME
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    ticks = int(fields[19])
    if _BOOT_TIME is None:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime"):
                    _BOOT_TIME = float(line.split()[1])
                    break
    return (_BOOT_TIME or 0.0) + ticks / os.sysconf("SC_CLK_TCK")


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or None if it does not exist."""
    if sys.platform.startswith("linux"):
        return _proc_start_time(pid)
    ps = _psutil()
    if ps is not None:
        try:
            return ps.Process(pid).create_time()
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
            return None
    if sys.platform.startswith("linux"):
        return _proc_start_time(pid)
    return None  # pragma: no cover


def identity() -> tuple[int, float | None]:
    """This process's ``(pid, start time)``."""
    pid = os.getpid()
    return pid, start_time(pid)


def is_alive(pid: int | None, started: float | None) -> bool:
    """True when process ``pid`` exists, is not a zombie, and started at ``started``.

    A run whose owner is not alive by this test is reported Failed by readers.
    Unknown identities (no pid) count as alive: nothing can be said of them.
    """
    if not pid:
        return True
    if sys.platform.startswith("linux"):
        state = _proc_state(pid)
        if state is None or state in (b"Z", b"X"):
            return False
        created = _proc_start_time(pid)
    else:
        ps = _psutil()
        if ps is None:  # pragma: no cover - in-run side without psutil
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        try:
            proc = ps.Process(pid)
            if proc.status() == ps.STATUS_ZOMBIE:
                return False
            created = proc.create_time()
        except ps.NoSuchProcess:
            return False
        except ps.AccessDenied:  # pragma: no cover - another user's process
            return True
    if started is None or created is None:
        return True
    return abs(created - started) <= _TOLERANCE


def _proc_state(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split(b" ", 1)[0]


def tree(pid: int) -> list:
    """psutil handles of ``pid`` and all its descendants (empty if it is gone)."""
    ps = _psutil()
    if ps is None:  # pragma: no cover
        return []
    try:
        root = ps.Process(pid)
        return [root, *root.children(recursive=True)]
    except ps.NoSuchProcess:
        return []


def end_tree(
    pid: int,
    started: float | None,
    *,
    grace: float = 10.0,
    extra: Iterable = (),
) -> list[int]:
    """End the process tree of ``pid`` (and its process group): SIGTERM, grace, SIGKILL.

    Only acts when ``pid`` still is the process that started at ``started``.
    Returns the pids that were signalled.
    """
    ps = _psutil()
    if ps is None or not is_alive(pid, started):
        procs = list(extra)
    else:
        procs = tree(pid) + list(extra)
    if not procs and not is_alive(pid, started):
        _killpg(pid, signal.SIGKILL, started)
        return []
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except Exception:  # noqa: BLE001 - already gone or not ours
            pass
    _killpg(pid, signal.SIGTERM, started)
    _, alive = ps.wait_procs(procs, timeout=grace) if ps else ((), ())
    for proc in alive:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001
            pass
    _killpg(pid, signal.SIGKILL, started)
    if alive:
        ps.wait_procs(alive, timeout=2.0)
    return [p.pid for p in procs]


def _killpg(pgid: int, sig: int, started: float | None) -> None:
    """Signal the process group ``pgid`` if it still exists (members may outlive its leader)."""
    if not hasattr(os, "killpg"):  # pragma: no cover - Windows
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of ``pids`` exists; True if they all went."""
    deadline = time.monotonic() + timeout
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if is_alive(p, None)}
        if pending:
            time.sleep(0.02)
    return not pending
