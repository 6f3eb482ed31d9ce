"""The ``Run``: what a script logs into and what every reader looks at.

A ``Run`` is a handle on one row of the store plus its folder. Logging calls
queue values in memory (see ``_metrics.MetricBuffer``) and a background thread
writes them (``_flusher``); reads go to the store and pass through
``_liveness.reconcile`` so a run whose owner died is reported Failed.

Standard library only on the logging path: ``import runner;
Run.get_context().log(...)`` must work in a bare virtualenv.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import RunEnvironmentError, UsageError
from ..core.status import (
    CANCEL_REQUESTED,
    CANCELED,
    COMPLETED,
    FAILED,
    PREPARING,
    QUEUED,
    RUNNING,
    RunStatus,
    error_record,
    exception_error,
)
from ..inrun import context as _context
from ..store import artifacts as _artifacts
from ..store import liveness as _liveness
from ..store import proc as _proc
from . import hooks
from .run_files import RunFiles
from .run_metrics import JournalState, RunMetrics
from .run_registry import RunRegistry
from .run_v1 import RunV1

if TYPE_CHECKING:
    from .experiment import Experiment
    from .workspace import Workspace

def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class Run(RunMetrics, RunFiles, RunRegistry, RunV1):
    """One run of an experiment: log into it, read it back, end it.

    Open any run from any process with ``Run(experiment, run_id)`` or
    ``Run.get(workspace, run_id)``; inside a submitted script use
    ``Run.get_context()``.
    """

    def __init__(self, experiment: Experiment, run_id: str, outputs: str | None = None,
                 **kwargs: Any) -> None:
        self._experiment = experiment
        self._store = experiment.workspace.store
        self._row = kwargs.get("_row") or self._store.get_run(run_id)
        if self._row["experiment"] != experiment.name:
            from ..core.errors import RunNotFound

            raise RunNotFound(
                f"run {run_id!r} belongs to experiment {self._row['experiment']!r}, not "
                f"{experiment.name!r}.",
                run_id=run_id,
            )
        self._id = run_id
        self._in_run = bool(kwargs.get("_in_run"))
        self._owner = bool(kwargs.get("_owner"))
        self._outputs: Path | None = Path(outputs).resolve() if outputs else None
        if self._outputs is not None:
            self._outputs.mkdir(parents=True, exist_ok=True)
        self._buffer = _metrics.MetricBuffer()
        self._fast = self._buffer.fast
        self._registered = False
        self._unwritten: list = []
        self._journal = JournalState()
        # One writer at a time: two threads flushing at once (the background
        # flusher and flush()/get_metrics()) could commit their drains out of order.
        # Reentrant because the SIGTERM handler may flush on the thread that holds it.
        self._write_lock = threading.RLock()

    # ------------------------------------------------------------ construction

    @classmethod
    def get(cls, workspace: Workspace, run_id: str) -> Run:
        """Open the run ``run_id`` of ``workspace``, whatever its experiment.

        Raises:
            RunNotFound: no such run in the workspace.
        """
        row = workspace.store.get_run(run_id)
        if cls is Run:
            cls = hooks.run_class(row["type"], Run)
        return cls(workspace._experiment(row["experiment"]), run_id, _row=row)

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The run this process belongs to, or an offline run outside a submitted run.

        Inside a submitted run the same object is returned on every call.

        Raises:
            RunEnvironmentError: outside a submitted run with ``allow_offline=False``.
        """
        ctx = _context.run_context()
        if ctx is None:
            if not allow_offline:
                raise RunEnvironmentError(
                    "Run.get_context(allow_offline=False) was called outside a submitted "
                    "run; submit the script with `runner submit` or Experiment.submit(), "
                    "or allow an offline run."
                )
            from ..inrun.offline import OfflineRun

            return OfflineRun()  # type: ignore[return-value]
        return _context.current_run(_context_run_factory)

    # --------------------------------------------------------------- identity

    @property
    def id(self) -> str:
        """The run id."""
        return self._id

    @property
    def experiment(self) -> Experiment:
        """The experiment this run belongs to."""
        return self._experiment

    @property
    def type(self) -> str:
        """``interactive``, ``script`` or ``child``."""
        return self._row["type"]

    @property
    def display_name(self) -> str | None:
        """A name for people; defaults to None (shown as the id)."""
        return self._store.get_run(self._id)["display_name"]

    @display_name.setter
    def display_name(self, value: str | None) -> None:
        self._store.update_run(self._id, display_name=None if value is None else str(value))

    @property
    def name(self) -> str:
        """The display name, or the run id when there is none."""
        return self.display_name or self._id

    @property
    def description(self) -> str | None:
        """Free text about the run."""
        return self._store.get_run(self._id)["description"]

    @description.setter
    def description(self, value: str | None) -> None:
        self._store.update_run(self._id, description=None if value is None else str(value))

    @property
    def status(self) -> str:
        """The current status (same as :meth:`get_status`)."""
        return self.get_status()

    @property
    def tags(self) -> dict[str, str | None]:
        """The run's tags (same as :meth:`get_tags`)."""
        return self.get_tags()

    @property
    def properties(self) -> dict[str, str | None]:
        """The run's properties (same as :meth:`get_properties`)."""
        return self.get_properties()

    @property
    def parent(self) -> Run | None:
        """The parent run, or None for a top-level run."""
        parent_id = self._row["parent_id"]
        return Run.get(self._experiment.workspace, parent_id) if parent_id else None

    @property
    def folder(self) -> Path:
        """The run's folder: ``outputs/``, ``logs/`` and uploaded files."""
        return self._experiment.workspace.paths.run_dir(self._id)

    def __repr__(self) -> str:
        return f"<Run {self._id} experiment={self._experiment.name} status={self.get_status()}>"

    def __str__(self) -> str:
        return (f"Run(Experiment: {self._experiment.name},\nId: {self._id},\n"
                f"Type: {self.type},\nStatus: {self.get_status()})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    # ------------------------------------------------------ tags and properties

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag (a key-only tag has the value None)."""
        self._store.set_tags(self._id, {key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several tags; values are stored as strings, other tags are kept."""
        if not isinstance(tags, dict):
            raise UsageError(f"set_tags() takes a dict, not {type(tags).__name__}.")
        self._store.set_tags(self._id, tags)

    def get_tags(self) -> dict[str, str | None]:
        """The run's tags."""
        return self._store.tags(self._id)

    def remove_tags(self, tags: Iterable[str]) -> None:
        """Remove the named tags."""
        if isinstance(tags, str):
            tags = [tags]
        self._store.remove_tags(self._id, list(tags))

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties; they are add-only, changing one is an error.

        They are also the run's parameters (``get_details()["parameters"]``, the
        studio's columns, ``params.<name>`` in filters) where the run has no
        parameter of that name from its arguments, a sweep or MLflow.
        """
        if not isinstance(properties, dict):
            raise UsageError(
                f"add_properties() takes a dict, not {type(properties).__name__}.")
        self._store.add_properties(self._id, properties)
        self._store.set_params(self._id, properties, "properties", replace=False)

    def get_properties(self) -> dict[str, str | None]:
        """The run's properties."""
        return self._store.properties(self._id)

    # -------------------------------------------------------------- lifecycle

    def _refresh(self) -> dict[str, Any]:
        row = self._row
        if row["status"] in RunStatus.TERMINAL:
            return row
        self._row = _liveness.reconcile(self._store, self._store.get_run(self._id))
        return self._row

    def get_status(self) -> str:
        """The run's status (terminal statuses are cached)."""
        return self._refresh()["status"]

    def get_details(self) -> dict[str, Any]:
        """The run's record with Azure ML's camelCase keys (``runId``, ``status``, ...)."""
        row = self._refresh()
        details: dict[str, Any] = {
            "runId": self._id,
            "experiment": row["experiment"],
            "displayName": row["display_name"],
            "type": row["type"],
            "target": (row["definition"] or {}).get("target") or "local",
            "status": row["status"],
            "parentRunId": row["parent_id"],
            "createdTimeUtc": _iso(row["created"]),
            "startTimeUtc": _iso(row["start_time"]),
            "properties": self.get_properties(),
            "tags": self.get_tags(),
            "parameters": self._store.params([self._id]).get(self._id, {}),
            **self._dataset_details(),
            "runDefinition": row["definition"] or {},
            "logFiles": self._log_files(),
            "submittedBy": _user(),
            "snapshotId": row["snapshot_id"],
            "warnings": self._loss_warnings()
            + list((row["system"] or {}).get("warnings") or []),
        }
        if row["status"] in RunStatus.TERMINAL:
            details["endTimeUtc"] = _iso(row["end_time"])
        if row["error"]:
            details["error"] = row["error"]
        if row["exit_code"] is not None:
            details["exitCode"] = row["exit_code"]
        if row["system"]:
            details["system"] = row["system"]
        if row.get("gpus") is not None:
            details["gpus"] = row["gpus"]
        return details

    def _log_files(self) -> dict[str, str]:
        logs = self.folder / "logs"
        if not logs.is_dir():
            return {}
        return {
            name: str(self.folder / name)
            for name in _artifacts.record_files(self.folder)
            if name.startswith("logs/")
        }

    def complete(self, _set_status: bool = True) -> None:
        """Flush, store the tracked outputs and mark the run Completed.

        Inside a submitted script this only flushes: the status comes from the
        script's exit.
        """
        self._end(COMPLETED, None)

    def fail(self, error_details: str | BaseException | None = None,
             error_code: str | None = None, _set_status: bool = True) -> None:
        """Flush, store the outputs and mark the run Failed with ``error_details``.

        Inside a submitted script the error is recorded but the status still
        comes from the script's exit.
        """
        if error_details is None:
            error = error_record("The run was marked failed.", code=error_code or "UserError")
        elif isinstance(error_details, BaseException):
            import traceback

            text = "".join(traceback.format_exception(
                type(error_details), error_details, error_details.__traceback__))
            error = exception_error(error_details, text)
            if error_code:
                error["error"]["code"] = error_code
        elif isinstance(error_details, str):
            error = error_record(error_details, code=error_code or "UserError")
        else:
            raise TypeError("error_details must be a str or an exception, not "
                            f"{type(error_details).__name__}")
        self._end(FAILED, error)

    def cancel(self) -> None:
        """Cancel the run: a submitted run's processes are ended (SIGTERM, grace,
        SIGKILL) by its supervisor; an interactive run is marked Canceled."""
        if self._in_run:
            return
        row = self._store.get_run(self._id)
        if row["status"] in RunStatus.TERMINAL:
            return
        if row["type"] in hooks.owned_types:
            hooks.call("cancel", self._experiment.workspace, row)
            self._row = self._store.get_run(self._id)
            return
        self._end(CANCELED, None)

    def _end(self, status: str, error: dict[str, Any] | None) -> None:
        if self._registered:
            self._write_pending()
        if self._in_run:
            if error is not None:
                self._store.update_run(self._id, error=error)
            return
        row = self._store.get_run(self._id)
        if row["status"] in RunStatus.TERMINAL:
            return
        if self._outputs is not None and self._outputs.is_dir():
            _artifacts.copy_tree_new(self._outputs, self.folder / "outputs")
        self._store.update_run(
            self._id, status=status, end_time=time.time(), error=error,
            only_if_status=(QUEUED, PREPARING, RUNNING, CANCEL_REQUESTED, "NotStarted",
                            "Finalizing"),
        )
        self._row = self._store.get_run(self._id)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.complete()
        else:
            self.fail(exc)

    # -------------------------------------------------------------- children

    def child_run(self, name: str | None = None, run_id: str | None = None,
                  outputs: str | None = None) -> Run:
        """Start a child run (Running) owned by this process."""
        import uuid

        child_id = run_id or str(uuid.uuid4())
        pid, started = _proc.identity()
        now = time.time()
        self._store.insert_run(
            child_id, self._experiment.name, parent_id=self._id, type="child",
            display_name=name, status=RUNNING, created=now, start_time=now,
            owner_pid=pid, owner_start=started,
        )
        self._experiment.workspace.paths.run_dir(child_id).mkdir(parents=True, exist_ok=True)
        return Run(self._experiment, child_id, outputs=outputs, _owner=True)

    def get_children(self, recursive: bool = False, **kwargs: Any) -> Iterator[Run]:
        """Child runs, newest first (all descendants with ``recursive``)."""
        rows = _liveness.reconcile_all(self._store, self._store.children(self._id, recursive))
        for row in rows:
            yield Run(self._experiment, row["id"], _row=row)

    def submit_child(self, config: Any, tags: dict[str, Any] | None = None,
                     **kwargs: Any) -> Run:
        """Submit ``config`` (a ScriptRunConfig) as a child run of this run."""
        return self._experiment.submit(config, tags=tags, _parent_id=self._id, **kwargs)

    # -------------------------------------------------------------- snapshots

    def get_snapshot_id(self) -> str | None:
        """The id of the snapshot of the run's source, if it has one."""
        return self._store.get_run(self._id)["snapshot_id"]

    def restore_snapshot(self, snapshot_id: str | None = None,
                         path: str | os.PathLike[str] | None = None) -> str:
        """Write the run's snapshot (or ``snapshot_id``) as files into ``path``.

        Returns the folder written (default: ``./snapshot_<id>``).
        """
        from ..snapshot.snapshots import restore_snapshot

        snapshot = snapshot_id or self.get_snapshot_id()
        if not snapshot:
            raise UsageError(f"run {self._id} has no snapshot.", run_id=self._id)
        dest = Path(path) if path else Path(f"snapshot_{snapshot}")
        return str(restore_snapshot(self._experiment.workspace.paths, snapshot, dest))

    def get_portal_url(self) -> str:
        """Where to look at the run: its page in the studio when ``runner studio``
        serves this workspace, else a ``file://`` URL of its folder."""
        url = hooks.call("run_url", self._experiment.workspace.paths, self._id)
        return url or self.folder.resolve().as_uri()

    def _repr_html_(self) -> str:
        """The run as HTML for notebooks: status, metric charts and the log's tail."""
        return hooks.call("repr_html", self)

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for the run to end (from any process) and return :meth:`get_details`.

        With ``show_output`` the run's log is printed as it is written.

        Raises:
            RunFailed: the run ended Failed and ``raise_on_error`` is True.
        """
        return hooks.call("wait", self, show_output=show_output,
                          wait_post_processing=wait_post_processing,
                          raise_on_error=raise_on_error)


_USER: list[str | None] = []


def _user() -> str | None:
    """Who is submitting (looked up once per process)."""
    if not _USER:
        # getpass.getuser()'s answer, without importing getpass (and termios) after a
        # run ended, when ``runner submit`` is about to print its summary and exit.
        user = next((os.environ[name] for name in ("LOGNAME", "USER", "LNAME", "USERNAME")
                     if os.environ.get(name)), None)
        if user is None:
            try:
                import pwd

                user = pwd.getpwuid(os.getuid())[0]
            except Exception:  # noqa: BLE001 - no user name in some containers (or no pwd)
                user = None
        _USER.append(user)
    return _USER[0]


def _context_run_factory(ctx: _context.RunContext) -> Run:
    # The Run of a submitted script is made above this module (``runner/__init__``):
    # a local one needs the Workspace and Experiment classes, which import this one.
    return hooks.call("context_run", ctx)
