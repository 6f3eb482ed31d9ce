"""What the studio shows, as plain JSON-ready dicts, read through the public API.

Why it exists: the pages and the ``/api/`` routes must read the workspace the
way the CLI does (``list_runs``, ``Run.get_details()``, ``Run.get_file_names()``,
the store's query methods, ``load_manifest``) and hold no SQL. This module is
that layer: each function takes a :class:`~runner.Workspace` and returns data;
the web handlers only turn it into responses. Standard library only, so it is
tested without a web server.

Errors are the runner's own: :class:`~runner.RunNotFound` and
:class:`~runner.NotFoundError` for what does not exist, :class:`~runner.UsageError`
for bad parameters; the API turns them into 404 and 400.

Files, logs and snapshots are in :mod:`._files`; the runs list in :mod:`._listing`;
metric series in :mod:`._series`.

Listing 10,000 runs costs a few hundred milliseconds (one row per run plus the
last metric values); the first page of the default order (newest first) asks
``list_runs`` for just that page. Other orders and the text filter need every
matching run; their listing is cached until the store file changes.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import NotFoundError, UsageError
from ..core.status import RunStatus
from ..store import liveness as _liveness
from . import downsample as _downsample
from . import ranking as _ranking
from . import series as _series

if TYPE_CHECKING:
    from ..api.run import Run
    from ..api.workspace import Workspace

#: Values of a table or a text series sent inline with the metrics overview.
INLINE_ROWS = 200


def iso(ts: float | None) -> str | None:
    """An epoch time as an ISO 8601 UTC string (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def duration(row: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds from start to end, or to now while the run goes on."""
    start = row.get("start_time")
    if start is None:
        return None
    end = row.get("end_time")
    if end is None:
        end = time.time() if now is None else now
    return max(0.0, end - start)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has no such numbers)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# --------------------------------------------------------------------- experiments


def experiments(ws: Workspace) -> list[dict[str, Any]]:
    """Every experiment with its run counts by status and its last activity."""
    _settle(ws)
    return [
        {"name": e["name"], "runs": e["runs"], "statuses": e["statuses"],
         "created": iso(e["created"]), "last_activity": iso(e["last_activity"])}
        for e in ws.store.experiments()
    ]


def _settle(ws: Workspace) -> None:
    """Record as Failed the unfinished runs whose owner died, before counting."""
    store = ws.store
    unfinished = tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL)
    _liveness.reconcile_all(store, store.active_runs(unfinished))



# ----------------------------------------------------------------------------- run


def get_run(ws: Workspace, run_id: str) -> Run:
    """The run ``run_id`` of ``ws``; raises RunNotFound."""
    from ..api.run import Run

    return Run.get(ws, run_id)


def run_summary(ws: Workspace, run_id: str) -> dict[str, Any]:
    """What the run page shows at the top: details, status, duration and children."""
    run = get_run(ws, run_id)
    details = run.get_details()
    row = ws.store.get_run(run_id)
    definition = details.get("runDefinition") or {}
    environment = definition.get("environment") or {}
    error = (details.get("error") or {}).get("error")
    children = [status_item(ws, child.id) for child in run.get_children()]
    return {
        "id": run_id,
        "experiment": details["experiment"],
        "display_name": details.get("displayName"),
        "type": details["type"],
        "status": details["status"],
        "live": details["status"] not in RunStatus.TERMINAL,
        "parent_id": details.get("parentRunId"),
        "created": details.get("createdTimeUtc"),
        "start_time": details.get("startTimeUtc"),
        "end_time": details.get("endTimeUtc"),
        "duration": duration(row),
        "script": definition.get("script"),
        "arguments": [str(a) for a in definition.get("arguments") or []],
        "command": definition.get("command"),
        "environment": environment.get("name") if isinstance(environment, dict) else None,
        "environment_definition": environment or None,
        "source_directory": definition.get("sourceDirectory"),
        "snapshot_id": details.get("snapshotId"),
        "exit_code": details.get("exitCode"),
        "gpus": details.get("gpus"),
        "models": _run_models(ws, run_id),
        "datasets": _run_datasets(ws, run_id),
        "error": error,
        "tags": details.get("tags") or {},
        "properties": details.get("properties") or {},
        "children": children,
        "folder": str(run.folder),
    }


def _run_models(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """The model versions registered from a run: name, version, framework."""
    from ..api.model import model_catalog

    return [{"name": v["name"], "version": v["version"], "framework": v.get("framework")}
            for group in model_catalog(ws, run_id=run_id) for v in group["versions"]]


def _run_datasets(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """What a run read and wrote: direction, input/output name, dataset, version, mode."""
    from ..registry import assets as _assets

    return [{k: record.get(k) for k in ("direction", "name", "dataset", "version", "mode",
                                          "path")}
            for record in _assets.run_datasets(ws.store, run_id)]


def models(ws: Workspace) -> list[dict[str, Any]]:
    """Every registered model with its versions, newest first (the Models page)."""
    from ..api.model import model_catalog

    return json_safe(model_catalog(ws))


def status_item(ws: Workspace, run_id: str) -> dict[str, Any]:
    """A run's status, times and exit facts (what the live status updates carry)."""
    row = _liveness.reconcile(ws.store, ws.store.get_run(run_id))
    error = (row.get("error") or {}).get("error")
    return {
        "id": run_id,
        "display_name": row.get("display_name"),
        "status": row["status"],
        "live": row["status"] not in RunStatus.TERMINAL,
        "start_time": iso(row.get("start_time")),
        "end_time": iso(row.get("end_time")),
        "duration": duration(row),
        "exit_code": row.get("exit_code"),
        "error": error,
    }


def cancel(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Ask a run to stop (``Run.cancel()``) and return its status afterwards."""
    get_run(ws, run_id).cancel()
    return status_item(ws, run_id)


# ------------------------------------------------------------------------- metrics


def metrics(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """Every metric of a run with how to show it.

    ``chart`` is ``line`` (a numeric series of two or more values), ``xy`` (a table of
    two or more rows whose columns are all numbers: the first is x), ``value`` (logged
    once), ``text`` (a series of strings), ``table`` (any other table: a text column
    such as a per-class report is shown as a table, whatever its number of rows) or
    ``image``. Series come from :func:`series`; values small enough are inline. Long
    scalar series are not read here: their row says how many values and of what
    encoding they are.
    """
    get_run(ws, run_id)
    out = []
    for summary in ws.store.metric_summaries(run_id):
        name, kind, count = summary["name"], summary["kind"], summary["count"]
        item: dict[str, Any] = {"name": name, "kind": kind, "count": count,
                                "stepped": summary["stepped"]}
        if kind == _metrics.SCALAR and count > 1 and summary["encodings"] <= {"d", "q"}:
            item["chart"] = "line"
            item["last"] = json_safe(summary["last"])
            out.append(item)
            continue
        values = ws.store.read_metrics(run_id, name).get(name, (kind, []))[1]
        if kind == _metrics.IMAGE:
            item["chart"] = "image"
            item["images"] = values[-INLINE_ROWS:]
        elif kind == _metrics.TABLE:
            shaped = _metrics.shape(kind, values)
            if len(values) == 1:
                shaped = {k: [v] for k, v in shaped.items()}
            numeric = bool(shaped) and all(_downsample.is_numeric(column)
                                           for column in shaped.values())
            item["chart"] = "xy" if numeric and len(values) > 1 else "table"
            item["columns"] = list(shaped)
            if len(values) <= INLINE_ROWS:
                item["rows"] = json_safe(shaped)
        elif len(values) == 1:
            item["chart"] = "value"
            item["value"] = json_safe(values[0])
        elif _downsample.is_numeric(values):
            item["chart"] = "line"
            item["last"] = json_safe(values[-1])
        else:
            item["chart"] = "text"
            item["values"] = json_safe(values[-INLINE_ROWS:])
        out.append(item)
    return out


def series(ws: Workspace, run_id: str, name: str,
           points: int = _downsample.DEFAULT_POINTS, *, axis: str = "step",
           x_min: str | float | None = None, x_max: str | float | None = None
           ) -> dict[str, Any]:
    """One metric as chart data, thinned to about ``points`` points.

    A scalar metric's x is its logged step (its position where none was logged), or
    its write time (``axis="time"``/``"relative"``), see :mod:`._series`; ``x_min`` and
    ``x_max`` narrow it to a zoomed range, read at full resolution when it fits.

    Raises:
        NotFoundError: the run has no metric ``name``.
        UsageError: ``points`` out of range, a bad axis or bound, or an image.
    """
    if not 2 <= points <= _downsample.MAX_POINTS:
        raise UsageError(f"points must be 2 to {_downsample.MAX_POINTS}, not {points}.")
    run = get_run(ws, run_id)
    layout = ws.store.series_chunks(run_id, name)
    if layout is None:
        raise NotFoundError(f"run {run_id} has no metric {name!r}.", run_id=run_id, name=name)
    kind = layout[0]
    if kind == _metrics.SCALAR:
        row = ws.store.get_run(run.id)
        data = _series.scalar_series(ws, run_id, name, points, axis=axis, x_min=x_min,
                                     x_max=x_max, origin=row.get("start_time"))
    elif kind == _metrics.TABLE:
        values = ws.store.read_metrics(run_id, name)[name][1]
        data = _downsample.table_series(values, points)
    else:
        raise UsageError(f"metric {name!r} is an image; it has no series.", name=name)
    data.update(name=name, kind=kind, run_id=run_id)
    return data


# ------------------------------------------------------------------------- compare


def compare(ws: Workspace, run_ids: list[str]) -> dict[str, Any]:
    """Runs side by side: parameters (those that differ first), final scalar metrics,
    tags, arguments and chartable metrics.

    Raises:
        UsageError: no runs or more than 20.
        RunNotFound: one of the runs does not exist.
    """
    if not run_ids or len(run_ids) > 20:
        raise UsageError("compare takes 1 to 20 run ids.")
    last = ws.store.last_metrics(run_ids)
    params = ws.store.params(run_ids)
    out = []
    charts: dict[str, str] = {}
    for run_id in run_ids:
        summary = run_summary(ws, run_id)
        for item in metrics(ws, run_id):
            if item["chart"] in ("line", "xy"):
                charts.setdefault(item["name"], item["chart"])
        out.append({
            "id": run_id, "display_name": summary["display_name"],
            "experiment": summary["experiment"], "status": summary["status"],
            "duration": summary["duration"], "script": summary["script"],
            "arguments": summary["arguments"], "tags": summary["tags"],
            "params": params.get(run_id, {}),
            "metrics": json_safe(last.get(run_id, {})),
        })
    names = sorted({n for r in out for n in r["params"]})
    differing = [n for n in names if len({r["params"].get(n) for r in out}) > 1]
    return {"runs": out,
            "param_names": differing + [n for n in names if n not in differing],
            "param_differs": differing,
            "metric_names": sorted({n for r in out for n in r["metrics"]}),
            "tag_names": sorted({t for r in out for t in r["tags"]}),
            "charts": [{"name": n, "chart": c} for n, c in sorted(charts.items())]}


#: The most runs a sweep view draws.
MAX_SWEEP_RUNS = 2000


def sweep(ws: Workspace, *, parent: str | None = None,
          run_ids: list[str] | None = None) -> dict[str, Any]:
    """A group of runs as a sweep: each run's parameters and final metrics, in the order
    they were created, with the primary metric and its goal.

    The group is a parent's children (a HyperDrive run's trials, or any run with child
    runs) or the runs named. The primary metric is the parent's ``primary_metric_name``
    property when it has one, else the numeric metric most runs share.

    Raises:
        UsageError: neither or both of ``parent`` and ``run_ids``, or too many runs.
        RunNotFound: the parent or a run does not exist.
    """
    if (parent is None) == (not run_ids):
        raise UsageError("a sweep view takes a parent run (?parent=ID) or runs (?runs=A,B).")
    properties: dict[str, Any] = {}
    if parent is not None:
        get_run(ws, parent)
        rows = ws.store.children(parent)
        properties = _ranking.settings(ws.store.get_run(parent), ws.store.properties(parent))
    else:
        rows = [get_run(ws, run_id) and ws.store.get_run(run_id) for run_id in run_ids or []]
    if len(rows) > MAX_SWEEP_RUNS:
        raise UsageError(f"a sweep view draws at most {MAX_SWEEP_RUNS} runs, not {len(rows)}.")
    rows = sorted(_liveness.reconcile_all(ws.store, [dict(r) for r in rows]),
                  key=lambda r: (r.get("created") or 0, r["id"]))
    ids = [r["id"] for r in rows]
    last = ws.store.last_metrics(ids)
    params = ws.store.params(ids)
    runs = [{"id": r["id"], "display_name": r.get("display_name"), "status": r["status"],
             "created": iso(r.get("created")), "params": params.get(r["id"], {}),
             "metrics": json_safe(last.get(r["id"], {}))} for r in rows]
    primary = _ranking.primary_metric(properties, runs)
    return {"parent": parent, "runs": runs,
            "param_names": sorted({n for r in runs for n in r["params"]}),
            "metric_names": sorted({n for r in runs for n, v in r["metrics"].items()
                                    if _metrics.is_number(v)}),
            "primary": primary,
            "goal": _ranking.primary_goal(primary, properties) if primary else "min"}


def series_csv(ws: Workspace, run_id: str, name: str) -> Any:
    """A scalar metric's every value as CSV text pieces (``step,value,time``)."""
    get_run(ws, run_id)
    return _series.csv_rows(ws, run_id, name)
