"""Talking to a run's supervisor: starting it, reaping it, asking it to cancel.

The supervisor is started detached (its own session) so the submitting process
may exit. When it was forked from this process, a daemon thread reaps it and
sets an event that ``wait_for_completion`` in this process wakes on at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _proc
from ._models import CANCEL_REQUESTED, PREPARING, QUEUED, RUNNING

if TYPE_CHECKING:
    from ._workspace import Workspace

_done: dict[str, threading.Event] = {}


def done_event(run_id: str) -> threading.Event | None:
    """Set when this process's own supervisor of ``run_id`` has exited."""
    return _done.get(run_id)


def start_supervisor(ws: Workspace, run_id: str, private: dict[str, Any], mode: str) -> int:
    """Start the supervisor of ``run_id`` detached; returns its pid."""
    from ._store import no_connections_open
    from ._supervisor import PRIVATE_VAR

    run_dir = ws.paths.run_dir(run_id)
    event = threading.Event()
    if mode == "fork":
        _preload(private)
        with no_connections_open():
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; measured by its effects
                _child(ws, run_id, private, run_dir)
        threading.Thread(target=_reap_pid, args=(pid, event), daemon=True,
                         name=f"runner-reap-{pid}").start()
    else:
        env = dict(os.environ)
        env[PRIVATE_VAR] = json.dumps(private)
        with open(run_dir / ".sys" / "supervisor.log", "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runner._supervisor", str(ws.root), run_id],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                start_new_session=True, close_fds=True,
            )
        pid = proc.pid
        threading.Thread(target=_reap_popen, args=(proc, event), daemon=True,
                         name=f"runner-reap-{pid}").start()
    _done[run_id] = event
    return pid


def _preload(private: dict[str, Any]) -> None:
    """Import what the supervisor will need once here, so no forked child imports it
    again; a managed environment's builder only when the run has one."""
    from . import _launch, _shim, _snapshot, _supervisor  # noqa: F401

    env = private.get("environment")
    if env is not None:
        from ._envs import _interp  # noqa: F401

        if not (env.get("python") or {}).get("user_managed_dependencies", False):
            from ._envs import _cache  # noqa: F401


def _child(ws: Workspace, run_id: str, private: dict[str, Any], run_dir: Path) -> None:
    """In the forked child: detach, supervise, and leave without running any
    of the parent's exit handlers."""
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
        from . import _context
        from ._supervisor import Supervisor

        _context.reset()
        code = Supervisor(str(ws.root), run_id, private, ws.config).run()
    except BaseException:  # noqa: BLE001
        try:
            os.write(2, traceback.format_exc().encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _name_process(name: str) -> None:
    """Name a forked supervisor ``runner:<end of run id>`` in ps -o comm and top (Linux)."""
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


def request_cancel(ws: Workspace, row: dict[str, Any]) -> None:
    """Ask the supervisor of a submitted run to cancel it (from any process)."""
    store = ws.store
    store.update_run(row["id"], cancel_requested=time.time(), status=CANCEL_REQUESTED,
                     only_if_status=(QUEUED, PREPARING, RUNNING))
    store.update_run(row["id"], cancel_requested=time.time(),
                     only_if_status=(CANCEL_REQUESTED,))
    pid, started = row.get("owner_pid"), row.get("owner_start")
    if pid and _proc.is_alive(pid, started):
        try:
            os.kill(pid, signal.SIGUSR1)
        except (ProcessLookupError, PermissionError):
            pass
    else:
        from ._liveness import reconcile

        reconcile(store, store.get_run(row["id"]))
