"""What every owner of a run shares: the local supervisor and the process that
follows a run on a cluster.

An owner is a detached process (its own session) that wakes on signals through
a self-pipe: SIGUSR1 or SIGTERM mean "cancel", and a subclass may listen for
more (the supervisor adds SIGCHLD). It records itself as the run's owner (pid +
start time) as it starts. :func:`start_detached` starts one, forked from the
submitting process when that has a single thread (no second interpreter
start), or else as ``python -m MODULE ROOT RUN_ID``, and lets a waiter in this
process know when it is done: a forked owner closes a pipe once the run's end is
recorded (a moment before it exits), and its exit closes it in any case.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from ..store import proc as _proc

#: Carries ``private`` to an owner started with exec.
PRIVATE_VAR = "RUNNER_SUPERVISOR_PRIVATE"
#: What cancels a run; blocked from before an owner starts until its handlers are up.
_CANCEL_SIGNALS = {signal.SIGUSR1, signal.SIGTERM}
#: Seconds that joined Python threads get to leave the kernel's task list before a fork.
THREAD_EXIT_WAIT = 0.02
#: What a forked owner writes to the submitter once it has recorded itself.
_RECORDED = b"R"
#: Seconds a submitter waits for a forked owner to record itself before doing it.
RECORD_TIMEOUT = 10.0

_done: dict[str, Any] = {}
#: In a forked owner: the pipe end whose closing tells the submitter "recorded".
_recorded_fd: int | None = None
#: In a forked owner: the pipe end whose closing tells the submitter "the end is recorded".
_ended_fd: int | None = None


def done_event(run_id: str) -> Any:
    """Set when this process's own owner of ``run_id`` has exited, or (forked) has
    recorded the run's end: an object with ``wait(timeout)`` and ``is_set()``, or None
    when this process did not start it."""
    return _done.get(run_id)


def touch_status(run_dir: Path, status: str) -> None:
    """Write the status marker that waiters watch (``.sys/status``)."""
    try:
        (run_dir / ".sys" / "status").write_text(status, encoding="utf-8")
    except OSError:  # pragma: no cover - run folder removed under us
        pass


class RunOwner:
    """Signals, waking and cancel requests of an owner process."""

    def __init__(self, root: str, run_id: str, private: dict[str, Any] | None,
                 ws: Any = None) -> None:
        """``private`` holds what the record keeps only redacted: the environment
        definition and the variables, in clear (passed in memory, or by
        environment variable to an exec'd owner). A forked owner gets the
        submitter's ``ws`` (its store then opens a fresh connection)."""
        if ws is None:
            from ..api.workspace import Workspace

            ws = Workspace(root)
        self.ws = ws
        self.store = self.ws.store
        self.run_id = run_id
        self.run_dir = self.ws.paths.run_dir(run_id)
        # Record ourselves first: a submitter that dies before it records us must not
        # leave its own (dead) pid as the run's owner.
        pid, started = _proc.identity()
        self.store.update_run(run_id, owner_pid=pid, owner_start=started)
        _announce_recorded()
        self.row: dict[str, Any] = self.store.get_run(run_id)
        self.definition: dict[str, Any] = self.row["definition"] or {}
        if private is None:
            private = json.loads(os.environ.pop(PRIVATE_VAR, "") or "{}")
        self.private: dict[str, Any] = private
        self.cancel_flag = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGUSR1, self._on_cancel_signal)
        signal.signal(signal.SIGTERM, self._on_cancel_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        unblock_cancel_signals()  # blocked since the start: a cancel waiting now arrives

    def _on_cancel_signal(self, signum: int, frame: Any) -> None:
        self.cancel_flag = True

    def _sleep(self, timeout: float) -> None:
        """Wait until a signal arrives or ``timeout`` passes."""
        if timeout > 0:
            try:
                readable(self._wake_r, timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                pass
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _cancel_requested(self) -> bool:
        """True once a cancel was asked for, by signal or in the store."""
        if not self.cancel_flag and self.store.get_run(self.run_id)["cancel_requested"]:
            self.cancel_flag = True
        return self.cancel_flag

    def _touch(self, status: str) -> None:
        """Touch the status marker; after the terminal status, also wake this run's
        submitter (the record says the end by now: the status is written first)."""
        touch_status(self.run_dir, status)
        from ..core.status import RunStatus

        if status in RunStatus.TERMINAL:
            _announce_ended()

    def _log(self, text: str) -> None:
        """A line in the owner's own log (``.sys/supervisor.log``)."""
        try:
            with open(self.run_dir / ".sys" / "supervisor.log", "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
        except OSError:  # pragma: no cover
            pass

    def _enter_finalizing(self, *from_statuses: str) -> dict[str, Any] | None:
        """Mark the run Finalizing (from one of ``from_statuses``) and return its row;
        None when it has ended already."""
        from ..core.status import FINALIZING, RunStatus

        row = self.store.get_run(self.run_id)
        if row["status"] in RunStatus.TERMINAL:
            return None
        self.store.update_run(self.run_id, status=FINALIZING, only_if_status=from_statuses)
        self._touch(FINALIZING)
        return row


def readable(fd: int, timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: no limit) until ``fd`` is readable.

    ``poll``, not ``select``: a process with over 1,024 descriptors open (a
    notebook with many workspaces) must still wait.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))


def os_threads() -> int | None:
    """How many threads this process has, as the kernel counts them (None: unknown).

    ``threading.active_count()`` misses threads that C code started (a BLAS pool,
    ZeroMQ's I/O threads in a Jupyter kernel).
    """
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def choose_mode(mode: str, title: str) -> str:
    """``fork`` only when it is safe and the forked child can show ``title``; else ``exec``.

    Forking a process with more than one thread is unsafe (a lock held by another
    thread stays held forever in the child), so a multi-threaded submitter (a
    Jupyter kernel, anything with a thread pool) execs. So does a process whose
    command line cannot be rewritten to name the run.
    """
    from .proctitle import room

    if mode != "fork" or not hasattr(os, "fork"):
        return "exec"
    threads = os_threads()
    if threads is not None and threads > 1 and threading.active_count() == 1:
        # Python's own threads were all joined (a snapshot's worker pool): the kernel
        # lets them go a moment after join() returns.
        deadline = time.monotonic() + THREAD_EXIT_WAIT
        while threads is not None and threads > 1 and time.monotonic() < deadline:
            time.sleep(0.0002)
            threads = os_threads()
    if threads != 1:
        return "exec"
    if room() < len(title.encode("utf-8", "replace")):
        return "exec"
    return "fork"


def start_detached(ws: Any, run_id: str, private: dict[str, Any], mode: str, *,
                   owner: Callable[[], int], module: str,
                   preload: Callable[[], None] = lambda: None) -> int:
    """Start the owner of ``run_id`` in its own session; returns its pid.

    The owner keeps none of this process's descriptors (a caller reading this
    process's output through a pipe is not held up until the run ends), shows a
    command line that names the run, and gets SIGUSR1 and SIGTERM (cancel) only
    once its handlers are installed: both are blocked across the start, and
    :meth:`RunOwner._install_signals` unblocks them, so a cancel sent at once is
    delivered then, not lost nor fatal.

    Args:
        ws: the workspace.
        run_id: the run it owns.
        private: what the record keeps only redacted (passed in memory, or by
            environment variable to an exec'd owner).
        mode: ``fork`` (``owner()`` runs in a forked grandchild, when this process
            has one thread; see :func:`choose_mode`) or ``exec`` (``python -m
            <module> ROOT RUN_ID``).
        owner: builds and runs the owner in the child; returns its exit code.
        module: the module an exec'd owner runs.
        preload: imports what the child will need, before forking.
    """
    run_dir = ws.paths.run_dir(run_id)
    title = f"runner {module.rsplit('.', 1)[-1]} {run_id}"
    mode = choose_mode(mode, title)
    old_mask = _block_cancel_signals()
    try:
        if mode == "fork":
            pid, ended = _fork_owner(ws, run_id, run_dir, owner, title, preload)
            waiter: Any = _Exited(pid, ended)
        else:
            env = dict(os.environ)
            env[PRIVATE_VAR] = json.dumps(private)
            with open(run_dir / ".sys" / "supervisor.log", "ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", module, str(ws.root), run_id],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                    start_new_session=True, close_fds=True,
                )
            pid = proc.pid
            # Until the exec'd owner records itself (after its interpreter starts).
            ws.store.update_run(run_id, owner_pid=pid, owner_start=_proc.start_time(pid))
            waiter = threading.Event()
            threading.Thread(target=_reap_popen, args=(proc, waiter), daemon=True,
                             name=f"runner-reap-{pid}").start()
    finally:
        _restore_mask(old_mask)
    for other in [key for key, value in _done.items() if value.is_set()]:
        del _done[other]  # owners that have exited (their pidfds close)
    _done[run_id] = waiter
    return pid


def _block_cancel_signals() -> set | None:
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        return None
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, _CANCEL_SIGNALS))


def _restore_mask(old: set | None) -> None:
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock_cancel_signals() -> None:
    """Let SIGUSR1 and SIGTERM in (an owner calls it once its handlers are installed)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _CANCEL_SIGNALS)


def _fork_owner(ws: Any, run_id: str, run_dir: Path, owner: Callable[[], int], title: str,
                preload: Callable[[], None]) -> tuple[int, int]:
    """Fork twice: the grandchild owns the run, the child exits at once.

    The grandchild is then nobody's child here: no zombie, and no reaper thread
    that would make this process multi-threaded for its next fork. Its pid comes
    back through a pipe, which it closes once it has recorded itself in the
    store: when this returns, the run's owner is the grandchild, even if this
    process dies the next instant.

    Returns:
        The grandchild's pid, and the read end of a second pipe that the grandchild
        holds open until the run's end is recorded (or it exits).
    """
    from ..store.db import no_connections_open

    preload()
    read_end, write_end = os.pipe()
    ended_r, ended_w = os.pipe()
    try:
        with no_connections_open():
            # Frozen, the objects inherited are never walked by the children's garbage
            # collector: their pages stay shared instead of being copied on write.
            child = -1
            gc.freeze()
            try:
                child = os.fork()
            finally:
                if child != 0:  # this process (also when the fork failed)
                    gc.unfreeze()
            if child == 0:  # pragma: no cover - the child; measured by its effects
                code = 70
                try:
                    os.close(read_end)
                    os.close(ended_r)
                    os.setsid()
                    grandchild = os.fork()
                    if grandchild == 0:
                        _owner_child(run_id, run_dir, owner, title, write_end, ended_w)
                    os.write(write_end, str(grandchild).encode())
                    code = 0
                finally:
                    os._exit(code)
        os.close(write_end)
        write_end = -1
        os.close(ended_w)
        ended_w = -1
        data, closed = _read_until_closed(read_end, RECORD_TIMEOUT)
    except BaseException:
        os.close(ended_r)
        raise
    finally:
        os.close(read_end)
        for fd in (write_end, ended_w):
            if fd >= 0:
                os.close(fd)
    _, status = os.waitpid(child, 0)
    # The child's pid and the grandchild's byte may come in either order (each one
    # write of under PIPE_BUF bytes, so neither is split).
    digits, recorded = data.replace(_RECORDED, b""), _RECORDED in data
    if not digits:
        os.close(ended_r)
        raise OSError(f"could not start the owner of run {run_id} "
                      f"(fork exit status {os.waitstatus_to_exitcode(status)})")
    pid = int(digits)
    if not (closed and recorded):  # slow, or died before recording itself: record it
        ws.store.update_run(run_id, owner_pid=pid, owner_start=_proc.start_time(pid))
    return pid, ended_r


def _read_until_closed(fd: int, timeout: float) -> tuple[bytes, bool]:
    """What comes through ``fd`` until every writer closed it (True) or ``timeout``."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not readable(fd, left):
            return data, False
        chunk = os.read(fd, 64)
        if not chunk:
            return data, True
        data += chunk


def _announce_recorded() -> None:
    """In a forked owner: tell the submitter that the store names us (a byte, then close
    the pipe; an owner that dies first closes it without the byte)."""
    global _recorded_fd
    if _recorded_fd is not None:
        try:
            os.write(_recorded_fd, _RECORDED)
            os.close(_recorded_fd)
        except OSError:  # pragma: no cover
            pass
        _recorded_fd = None


def _announce_ended() -> None:
    """In a forked owner: tell the submitter that the run's end is recorded (close the
    pipe it waits on; exiting would close it too, a moment later)."""
    global _ended_fd
    if _ended_fd is not None:
        try:
            os.close(_ended_fd)
        except OSError:  # pragma: no cover
            pass
        _ended_fd = None


def _owner_child(run_id: str, run_dir: Path, owner: Callable[[], int], title: str,
                 recorded_fd: int, ended_fd: int) -> None:
    """In the forked grandchild: take a name, drop every inherited descriptor, own the
    run, and leave without running any of the parent's exit handlers."""
    from . import proctitle

    global _recorded_fd, _ended_fd
    _recorded_fd, _ended_fd = recorded_fd, ended_fd
    code = 70
    try:
        proctitle.set_comm(f"runner:{run_id[-8:]}")
        proctitle.set_title(title)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(run_dir / ".sys" / "supervisor.log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        _drop_inherited(devnull, keep={log, recorded_fd, ended_fd})
        os.close(log)
        os.close(devnull)
        from ..inrun import context as _context

        _context.reset()
        code = owner()
    except BaseException:  # noqa: BLE001
        try:
            os.write(2, traceback.format_exc().encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _drop_inherited(devnull: int, keep: set[int]) -> None:
    """Let go of every descriptor above 2 that the parent had open.

    Each is pointed at /dev/null rather than closed: the pipe, socket or file
    behind it is released all the same, and the number stays taken, so a parent's
    file object that the child's garbage collector finalizes later closes
    /dev/null, not a descriptor that the child has opened since.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: every possible descriptor
        fds = list(range(3, _max_fd()))
    for fd in fds:
        if fd <= 2 or fd == devnull or fd in keep:
            continue
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 65536)
    except (OSError, ValueError):  # pragma: no cover
        return 1024


class _Exited:
    """Whether a forked owner (not our child: see :func:`_fork_owner`) is done: it has
    recorded the run's end, or exited.

    Waits on two descriptors at once: the pipe the owner closes once the end is
    recorded (and its exit closes in any case), and a pidfd where Linux has them
    (5.3+): the pidfd still says "exited" should a process the owner forked hold the
    pipe open. Without a pidfd, the pid's identity is polled besides. Behaves like the
    ``threading.Event`` that an exec'd owner's reaper sets.
    """

    def __init__(self, pid: int, ended: int | None = None) -> None:
        self.pid = pid
        self.started = _proc.start_time(pid)
        self.fd: int | None = None
        self.ended = ended
        self._set = self.started is None
        if not self._set and hasattr(os, "pidfd_open"):
            try:
                self.fd = os.pidfd_open(pid)
            except OSError:
                self.fd = None
            if self.fd is not None and not _proc.is_alive(pid, self.started):
                self._set = True  # a new process may have taken the pid before pidfd_open
        if self._set:
            self._close()

    def is_set(self) -> bool:
        """True once the owner is done."""
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the owner to be done; True if it is."""
        if self._set:
            return True
        fds = [fd for fd in (self.ended, self.fd) if fd is not None]
        if self.fd is None:  # no pidfd: poll the identity, the pipe in between
            deadline = None if timeout is None else time.monotonic() + timeout
            while _proc.is_alive(self.pid, self.started):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                if fds and _any_ready(fds, 0.02 if left is None else min(left, 0.02)):
                    break
                if not fds:
                    time.sleep(0.02)
        elif not _any_ready(fds, timeout):
            return False
        self._close()
        self._set = True
        return True

    def _close(self) -> None:
        for name in ("fd", "ended"):
            fd = getattr(self, name)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def __del__(self) -> None:
        self._close()


def _any_ready(fds: list[int], timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: no limit) until one of ``fds`` is readable
    or hung up; an error on one counts as ready (its owner is gone)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    try:
        return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))
    except OSError:  # pragma: no cover
        return True


def _reap_popen(proc: subprocess.Popen, event: threading.Event) -> None:
    proc.wait()
    event.set()
