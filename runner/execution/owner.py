"""What every owner of a run shares: the local supervisor and the process that
follows a run on a cluster.

An owner is a detached process (its own session) that wakes on signals through
a self-pipe: SIGUSR1 or SIGTERM mean "cancel", and a subclass may listen for
more (the supervisor adds SIGCHLD). :func:`start_detached` starts one, forked
from the submitting process (no second interpreter start) or as ``python -m
MODULE ROOT RUN_ID``, and lets a waiter in this process know when it is gone.
"""

from __future__ import annotations

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

_done: dict[str, threading.Event] = {}


def done_event(run_id: str) -> threading.Event | None:
    """Set when this process's own owner of ``run_id`` has exited."""
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

    def _on_cancel_signal(self, signum: int, frame: Any) -> None:
        self.cancel_flag = True

    def _sleep(self, timeout: float) -> None:
        """Wait until a signal arrives or ``timeout`` passes."""
        if timeout > 0:
            try:
                select.select([self._wake_r], [], [], timeout)
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
        touch_status(self.run_dir, status)

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


def start_detached(ws: Any, run_id: str, private: dict[str, Any], mode: str, *,
                   owner: Callable[[], int], module: str,
                   preload: Callable[[], None] = lambda: None) -> int:
    """Start the owner of ``run_id`` in its own session; returns its pid.

    Args:
        ws: the workspace.
        run_id: the run it owns.
        private: what the record keeps only redacted (passed in memory, or by
            environment variable to an exec'd owner).
        mode: ``fork`` (``owner()`` runs in the forked child) or ``exec``
            (``python -m <module> ROOT RUN_ID``).
        owner: builds and runs the owner in the child; returns its exit code.
        module: the module an exec'd owner runs.
        preload: imports what the child will need, before forking.
    """
    from ..store.db import no_connections_open

    run_dir = ws.paths.run_dir(run_id)
    event = threading.Event()
    if mode == "fork":
        preload()
        with no_connections_open():
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; measured by its effects
                _child(run_id, run_dir, owner)
        threading.Thread(target=_reap_pid, args=(pid, event), daemon=True,
                         name=f"runner-reap-{pid}").start()
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
        threading.Thread(target=_reap_popen, args=(proc, event), daemon=True,
                         name=f"runner-reap-{pid}").start()
    _done[run_id] = event
    return pid


def _child(run_id: str, run_dir: Path, owner: Callable[[], int]) -> None:
    """In the forked child: detach, own the run, and leave without running any of
    the parent's exit handlers."""
    code = 70
    try:
        os.setsid()
        _name_process(f"runner:{run_id[-8:]}")
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(run_dir / ".sys" / "supervisor.log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        os.close(devnull)
        os.close(log)
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


def _name_process(name: str) -> None:
    """Name a forked owner ``runner:<end of run id>`` in ps -o comm and top (Linux)."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


def _reap_pid(pid: int, event: threading.Event) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by someone else (e.g. a user's os.wait())
        while _proc.is_alive(pid, None):
            time.sleep(0.05)
    event.set()


def _reap_popen(proc: subprocess.Popen, event: threading.Event) -> None:
    proc.wait()
    event.set()
