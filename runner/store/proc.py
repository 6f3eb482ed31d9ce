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

#: Two readings of one process's start time agree within this many seconds where the
#: system gives it at a finer grain than Linux's clock ticks (psutil: macOS, Windows).
_TOLERANCE = 0.001


def _psutil():
    try:
        import psutil
    except ImportError:  # pragma: no cover - the in-run side in a bare venv
        return None
    return psutil


_BOOT_TIME: float | None = None


def _proc_start_time(pid: int) -> float | None:
    """Linux: start time from /proc, computed the way psutil does it.

    ``boot time + clock ticks since boot / ticks per second``: the same inputs give
    the same float in every process, so two readings of one process are equal to
    the tick (see :func:`_same_start`), and a pid reused a tick later is told apart.
    """
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
    return _same_start(created, started)


def _same_start(created: float, started: float) -> bool:
    """True when two start-time readings are of one process.

    On Linux both come from the same clock-tick count, so they agree to well under
    half a tick; a process started one tick later differs by a whole tick.
    """
    if sys.platform.startswith("linux"):
        return abs(created - started) < 0.5 / os.sysconf("SC_CLK_TCK")
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
    """End the process tree of ``pid`` and its process group: SIGTERM, grace, SIGKILL.

    Every signal goes to a process whose identity was just checked; a pid or a
    group id alone is never signalled:

    - the tree (``pid`` and its descendants) only while ``pid`` still is the
      process that started at ``started``;
    - the members of process group ``pid`` (they may outlive its leader): all of
      them while the leader is that process (alive or a zombie); none when another
      process has the pid (the kernel reuses a pid only once no group of that id is
      left); once the leader is gone, only members that
      started at or after ``started`` in this boot (a group made later by another
      process that got the same pid, whose own leader died too, would still pass:
      see the README's "What the runner can and cannot end");
    - ``extra`` psutil handles (they carry their own identity).

    psutil's handles check the start time again right before each signal, so a
    process that exits and whose pid is reused between listing and signalling is
    not touched. With ``started`` unknown, only ``extra`` is signalled.

    Returns:
        The pids that were signalled.
    """
    ps = _psutil()
    if ps is None:  # pragma: no cover - the in-run side ends no trees
        return []
    procs = list(extra)
    if started is not None:
        created = start_time(pid)  # a zombie still has its start time
        leader_ok = created is not None and _same_start(created, started)
        if leader_ok and is_alive(pid, started):
            procs = tree(pid) + procs
        # A process of another identity at ``pid`` means the pid was reused, which the
        # kernel does only once no group ``pid`` exists: then there is no group to end.
        if created is None or leader_ok:
            seen = {p.pid for p in procs}
            procs += [p for p in _group_members(pid, started, leader_ok) if p.pid not in seen]
    procs = list({p.pid: p for p in procs}.values())
    if not procs:
        return []
    for proc in procs:
        _signal(proc, signal.SIGTERM)
    alive = _wait_ended(ps, procs, grace)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    if alive:
        _wait_ended(ps, alive, 2.0)
    return [p.pid for p in procs]


def _wait_ended(ps, procs: list, timeout: float) -> list:
    """Wait up to ``timeout`` s for ``procs`` to end; those still running.

    A zombie has ended: psutil's ``wait_procs`` alone would wait the whole timeout
    for one that is not our child (its parent, often an init that never reaps,
    owns it). Our own children are reaped by ``wait_procs``.
    """
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        left = max(0.0, deadline - time.monotonic())
        _, pending = ps.wait_procs(pending, timeout=min(0.05, left))
        pending = [p for p in pending if not _is_zombie(ps, p)]
        if left == 0.0:
            break
    return pending


def _is_zombie(ps, proc) -> bool:
    try:
        return proc.status() == ps.STATUS_ZOMBIE
    except ps.NoSuchProcess:
        return True
    except ps.Error:  # pragma: no cover - not ours to read
        return False


def _signal(proc, sig: int) -> None:
    """Send ``sig`` through a psutil handle: it checks the process is still the same."""
    ps = _psutil()
    try:
        proc.send_signal(sig)
    except (ps.NoSuchProcess, ps.AccessDenied, ProcessLookupError, PermissionError):
        pass  # gone since (or never ours to signal): nothing was signalled


def _group_members(pgid: int, started: float, leader_ok: bool) -> list:
    """psutil handles of the members of process group ``pgid`` we may signal.

    With its leader verified alive, the whole group. Otherwise a member must have
    started at or after the leader's recorded start, and that start must be in this
    boot (a record from before a reboot names no living process).
    """
    ps = _psutil()
    if not leader_ok:
        try:
            if started < ps.boot_time() - 1:
                return []
        except Exception:  # noqa: BLE001 - boot time unknown: judge by start times alone
            pass
    me = os.getpid()
    out = []
    for proc in ps.process_iter():
        if proc.pid in (me, 0):
            continue
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            if not leader_ok and proc.create_time() < started - 0.5 / _ticks_per_second():
                continue
        except (ps.NoSuchProcess, ps.AccessDenied, ProcessLookupError, PermissionError):
            continue
        out.append(proc)
    return out


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1000

