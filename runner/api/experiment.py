"""Experiments: named groups of runs, created on first use."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError
from ..core.status import RUNNING, normalize_status
from ..store import liveness as _liveness
from ..store import proc as _proc
from . import hooks

if TYPE_CHECKING:
    from ..core.filter import Filter
    from .run import Run
    from .workspace import Workspace

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][\w-]{0,254}$")


def check_name(name: Any) -> str:
    """Return ``name`` if it is a valid experiment name, else raise UsageError."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise UsageError(
            f"invalid experiment name {name!r}: use 1-255 letters, digits, '_' or '-', "
            "starting with a letter or digit (e.g. 'train-on-local').",
            name=name,
        )
    return name


class Experiment:
    """A named group of runs in a workspace; constructing one gets or creates it."""

    def __init__(self, workspace: Workspace, name: str, **kwargs: Any) -> None:
        self.name = check_name(name)
        self.workspace = workspace
        self.id = workspace.store.experiment_id(name)

    def __repr__(self) -> str:
        return f"<Experiment {self.name} in {self.workspace.root}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Experiment) and other.name == self.name
                and other.workspace == self.workspace)

    def __hash__(self) -> int:
        return hash((self.name, self.workspace.root))

    @staticmethod
    def list(workspace: Workspace, **kwargs: Any) -> list[Experiment]:
        """Every experiment of the workspace, by name."""
        return [Experiment(workspace, e["name"]) for e in workspace.store.experiments()]

    def get_runs(self, type: str | None = None, tags: str | dict[str, Any] | None = None,
                 properties: str | dict[str, Any] | None = None,
                 include_children: bool = False, status: str | None = None,
                 filter: str | Filter | None = None) -> Iterator[Run]:
        """The experiment's runs, newest first.

        ``filter`` keeps the runs an expression holds for, in the language the studio's
        runs list and ``runner runs --filter`` share (:mod:`runner.core.filter`), e.g.
        ``exp.get_runs(filter='metrics.mse < 3000 and params.alpha >= 0.5 and '
        'status = "Completed"')``: plain fields (``status``, ``name``, ``duration``,
        ``created`` ...), ``metrics.<name>`` (the last value logged), ``params.<name>``
        (``run.get_details()["parameters"]``), ``tags.<key>`` and ``properties.<key>``.

        Args:
            type: only runs of this type (``interactive``, ``script``, ``child``; v1's
                ``azureml.scriptrun`` is ``script``).
            tags: a key (runs having that tag) or a dict (runs with all those values).
            properties: like ``tags``, for properties.
            include_children: include child runs too.
            status: only runs with this status.
            filter: an expression (text or a parsed :class:`~runner.core.filter.Filter`).

        Raises:
            FilterError: ``filter`` does not parse; raised at the call, before any run
                is yielded, with the column and a caret under the spot.
        """
        from .run_filter import as_filter

        found = as_filter(filter)
        return self._get_runs(type, tags, properties, include_children, status, found)

    def _get_runs(self, type: str | None, tags: Any, properties: Any, include_children: bool,
                  status: str | None, found: Filter | None) -> Iterator[Run]:
        from .run import Run
        from .run_v1 import run_type

        type = run_type(type)
        store = self.workspace.store
        if status:
            # Settle dead owners first, so a status filter sees the statuses readers report
            # (a run still stored Running whose owner died is Failed).
            from ..core.status import RunStatus

            unfinished = tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL)
            _liveness.reconcile_all(store, store.active_runs(unfinished))
        rows = store.query_runs(
            experiment=self.name, run_type=type, tags=tags, properties=properties,
            include_children=include_children,
            status=normalize_status(status) if status else None,
        )
        rows = _liveness.reconcile_all(store, rows)
        if found is not None:
            from .run_filter import filter_rows

            last = store.last_metrics([row["id"] for row in rows])
            for row in rows:
                row["metrics"] = last.get(row["id"], {})
            rows = filter_rows(self.workspace, rows, found)
        for row in rows:
            if status and row["status"] != normalize_status(status):
                continue
            yield hooks.run_class(row["type"], Run)(self, row["id"], _row=row)

    def start_logging(self, *args: Any, outputs: str | bool | None = None,
                      snapshot_directory: str | None = ".", display_name: str | None = None,
                      tags: dict[str, Any] | None = None, description: str | None = None,
                      run_id: str | None = None, **kwargs: Any) -> Run:
        """Start an interactive run in this process (status Running).

        ``outputs`` (default ``./outputs``; False to track nothing) is stored
        with the run at ``complete()``/``fail()``/``cancel()``. The
        ``snapshot_directory`` (default: the current folder; None for none) is
        captured first, so a snapshot error leaves no run behind.
        """
        from .run import Run

        snapshot_id = None
        if snapshot_directory is not None:
            from ..snapshot.snapshots import SnapshotLimits, take_snapshot

            config = self.workspace.config
            info = take_snapshot(
                self.workspace.paths, snapshot_directory,
                SnapshotLimits(config.snapshot_max_bytes, config.snapshot_max_files),
            )
            snapshot_id = info.id
        if outputs is None or outputs is True:
            outputs_dir: str | None = os.path.join(os.getcwd(), "outputs")
        elif outputs is False:
            outputs_dir = None
        else:
            outputs_dir = str(Path(outputs).resolve())
        import uuid

        run_id = run_id or str(uuid.uuid4())
        pid, started = _proc.identity()
        now = time.time()
        self.workspace.store.insert_run(
            run_id, self.name, type="interactive", display_name=display_name,
            description=description, status=RUNNING, created=now, start_time=now,
            owner_pid=pid, owner_start=started, snapshot_id=snapshot_id,
        )
        self.workspace.paths.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        run = Run(self, run_id, outputs=outputs_dir, _owner=True)
        if tags:
            run.set_tags(tags)
        return run

    def submit(self, config: Any, tags: dict[str, Any] | None = None,
               **kwargs: Any) -> Run:
        """Submit a ScriptRunConfig; returns its Run at once (the run goes on by itself)."""
        return hooks.call("submit", self, config, tags=tags, **kwargs)


def list_runs(
    workspace: Workspace,
    *,
    experiment: str | None = None,
    status: str | None = None,
    tags: str | dict[str, Any] | None = None,
    tag_keys: Iterable[str] = (),
    include_children: bool = False,
    parent_id: str | None = None,
    filter: str | Filter | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs of the workspace as plain dicts, newest first, for listings (CLI, studio).

    Each dict is the run's store record (``id``, ``experiment``, ``status``,
    ``start_time``, ...) plus ``metrics``: the last value of each scalar metric.
    A few queries whatever the number of runs (never one per run); unfinished
    runs are passed through :func:`_liveness.reconcile` so a dead owner shows
    as Failed.

    Args:
        experiment: only runs of this experiment.
        status: only runs with this status (any case).
        tags: a key (runs having that tag) or a dict (runs with all those values).
        tag_keys: more tag keys the runs must have, whatever their value.
        include_children: include child runs too.
        parent_id: only the children of this run.
        filter: only runs this expression holds for (see :meth:`Experiment.get_runs`).
        limit: at most this many runs (counted after the filter).

    Raises:
        UsageError: an unknown status or a limit below 1.
        FilterError: ``filter`` does not parse.
    """
    from ..core.status import RunStatus
    from ..store.db import _ANY
    from .run_filter import as_filter, filter_rows

    if status is not None:
        try:
            status = normalize_status(status)
        except ValueError as exc:
            raise UsageError(str(exc), status=status) from None
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, not {limit}.", limit=limit)
    found = as_filter(filter)
    spec: dict[str, Any] | None = None
    if isinstance(tags, str):
        spec = {tags: _ANY}
    elif tags is not None:
        if not isinstance(tags, dict):
            raise UsageError(f"tags must be a key (str) or a dict of key -> value, not "
                             f"{type(tags).__name__}.")
        spec = dict(tags)
    for key in tag_keys:
        spec = spec if spec is not None else {}
        spec.setdefault(key, _ANY)
    store = workspace.store
    if status is not None:
        # Settle dead owners first, so a status filter sees the statuses readers report.
        unfinished = tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL)
        _liveness.reconcile_all(store, store.active_runs(unfinished))
    rows = store.query_runs(
        experiment=experiment, status=status, tags=spec, parent_id=parent_id,
        include_children=include_children, limit=None if found is not None else limit,
    )
    rows = _liveness.reconcile_all(store, rows)
    if status is not None:
        rows = [row for row in rows if row["status"] == status]
    last = store.last_metrics([row["id"] for row in rows])
    for row in rows:
        row["metrics"] = last.get(row["id"], {})
    if found is not None:
        rows = filter_rows(workspace, rows, found)
        if limit is not None:
            rows = rows[:limit]
    return rows
