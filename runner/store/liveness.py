"""Status derived from facts: a run whose owner process is gone is Failed.

Any reader (a ``Run`` handle, a listing, the CLI) passes the rows it read
through :func:`reconcile`. A run that is not finished but whose owner (the
process that started an interactive run, or the supervisor of a submitted run)
no longer exists, by pid and start time, is recorded as Failed by the first
reader to notice; a submitted run's orphaned script tree is ended.

Except a run whose job was submitted to a remote target (a Ray job): its program
does not depend on the owner, which only follows it, so the run keeps its status
(``runner attach RUN``, or a waiter, starts a new owner that finishes the record
from the job's final status).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..core.errors import StoreError
from ..core.status import FAILED, RunStatus, error_record
from . import proc as _proc

if TYPE_CHECKING:
    from .db import Store

#: Seconds a reader gives an orphaned script between SIGTERM and SIGKILL.
ORPHAN_GRACE = 2.0


def owner_alive(row: dict[str, Any]) -> bool:
    """True while the run's owner process still runs (or cannot be judged)."""
    pid = row.get("owner_pid")
    if not pid or pid == os.getpid():
        return True
    return _proc.is_alive(pid, row.get("owner_start"))


def reconcile(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row``, first marking it Failed if its owner died unfinished."""
    if row["status"] in RunStatus.TERMINAL or owner_alive(row):
        return row
    target = (row.get("definition") or {}).get("target") or "local"
    if row["type"] == "script" and target != "local":
        if store.properties(row["id"]).get("ray.submission_id"):
            return {**row, "detached": True}  # the job goes on; `runner attach` follows it
        message = (
            f"The process that submitted this run to target {target!r} (pid "
            f"{row['owner_pid']}) died before the job was submitted."
        )
    elif row["type"] == "script":
        message = (
            f"The supervisor of this run (pid {row['owner_pid']}) died before the run "
            "ended; its program was stopped."
        )
        if row.get("script_pid"):
            _proc.end_tree(row["script_pid"], row.get("script_start"), grace=ORPHAN_GRACE)
    elif row["type"] == "hyperdrive":
        message = (
            f"The owner of this sweep (pid {row['owner_pid']}) died before the sweep ended; "
            f"its running trials go on. Resume it with `runner sweep resume {row['id']}`."
        )
    else:
        message = (
            f"The process that owned this run (pid {row['owner_pid']}) ended without "
            "completing it."
        )
    error = error_record(message, code="OwnerDied")
    # What the dead owner's writers made durable in the metric journal goes into the
    # record with its end (any reader of metrics would move it too).
    settle = getattr(store, "settle_journal", None)
    if settle is not None:
        settle([row["id"]])
    now = time.time()
    try:
        store.update_run(
            row["id"], status=FAILED, end_time=now, error=error,
            only_if_status=(row["status"],),
        )
    except StoreError as exc:
        # A reader reports what it found even when it cannot record it (a full
        # disk, a read-only copy); the next reader that can write records it.
        error["error"]["details"] = f"not yet recorded in the store: {exc}"
        return {**row, "status": FAILED, "end_time": now, "error": error}
    return store.get_run(row["id"])


def reconcile_all(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`reconcile` every unfinished row of a listing."""
    return [
        row if row["status"] in RunStatus.TERMINAL else reconcile(store, row) for row in rows
    ]
