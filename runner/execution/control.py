"""Talking to a run's supervisor: starting it and asking it to cancel.

The supervisor is started detached (its own session) so the submitting process
may exit; see :func:`runner.execution.owner.start_detached`.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

from ..core.status import CANCEL_REQUESTED, PREPARING, QUEUED, RUNNING
from ..store import proc as _proc
from .owner import done_event

if TYPE_CHECKING:
    from ..api.workspace import Workspace

__all__ = ["done_event", "request_cancel", "start_supervisor"]


def start_supervisor(ws: Workspace, run_id: str, private: dict[str, Any], mode: str) -> int:
    """Start the supervisor of ``run_id`` detached; returns its pid."""
    from .owner import start_detached

    def owner() -> int:
        from .supervisor import Supervisor

        return Supervisor(str(ws.root), run_id, private, ws.config, ws).run()

    return start_detached(ws, run_id, private, mode, owner=owner,
                          module="runner.execution.supervisor", preload=lambda: _preload(private))


def _preload(private: dict[str, Any]) -> None:
    """Import what the supervisor will need once here, so no forked child imports it
    again; a managed environment's builder only when the run has one.

    Everything the way to the script's start imports counts: a module imported in
    the child is imported again by every run's supervisor (psutil is not: a short
    run's supervisor never needs it, a long one imports it while the script runs).
    """
    from ..envs import prepare as _prepare  # noqa: F401
    from ..snapshot import workpool as _workpool  # noqa: F401
    from . import launch as _launch  # noqa: F401
    from . import shim as _shim  # noqa: F401
    from . import supervisor as _supervisor  # noqa: F401

    env = private.get("environment")
    if env is not None:
        from ..envs import interp as _interp  # noqa: F401

        if not (env.get("python") or {}).get("user_managed_dependencies", False):
            from ..envs import cache as _cache  # noqa: F401


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
        from ..store.liveness import reconcile

        reconcile(store, store.get_run(row["id"]))
