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

Files, logs and snapshots are in :mod:`._files`.

Listing 10,000 runs costs a few hundred milliseconds (one row per run plus the
last metric values); the first page of the default order (newest first) asks
``list_runs`` for just that page. Other orders and the text filter need every
matching run; their listing is cached until the store file changes.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import NotFoundError, UsageError
from ..core.status import RunStatus, normalize_status
from ..store import liveness as _liveness
from . import downsample as _downsample

if TYPE_CHECKING:
    from ..api.run import Run
    from ..api.workspace import Workspace

#: Runs per page unless asked otherwise, and the most a page may hold.
PER_PAGE = 50
MAX_PER_PAGE = 500
#: Sort keys of the runs listing (plus ``metric:<name>``).
SORT_KEYS = ("created", "start", "duration", "status", "id", "name", "experiment")
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


# ---------------------------------------------------------------------------- runs


def parse_tags(items: list[str] | tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """``["k=v", "k2"]`` as (values that must match, keys that must exist)."""
    values: dict[str, str] = {}
    keys: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"tag filter {item!r} names no tag; use KEY or KEY=VALUE.")
        if sep:
            values[key] = value
        else:
            keys.append(key)
    return values, keys


def runs_page(ws: Workspace, *, experiment: str | None = None, status: str | None = None,
              tags: list[str] | tuple[str, ...] = (), text: str | None = None,
              sort: str = "created", order: str = "desc", page: int = 1,
              per_page: int = PER_PAGE) -> dict[str, Any]:
    """One page of top-level runs, filtered and sorted, for the runs page.

    Args:
        experiment: only this experiment's runs (all experiments when None).
        status: only runs with this status (any case).
        tags: ``KEY`` (has the tag) or ``KEY=VALUE`` filters, all must match.
        text: only runs whose id, name, experiment, status, script or tags
            contain this text (any case).
        sort: one of :data:`SORT_KEYS` or ``metric:<name>``.
        order: ``asc`` or ``desc``.
        page: 1-based page number.
        per_page: runs per page (1 to :data:`MAX_PER_PAGE`).

    Returns:
        ``{"runs": [...], "total": int | None, "page", "per_page", "has_more",
        "metric_names": [...]}``; ``total`` is None when counting would cost a
        full listing (a tag filter on the fast path).

    Raises:
        UsageError: an unknown status, sort key or order, or a bad page.
    """
    from ..api.experiment import list_runs

    if status:
        try:
            status = normalize_status(status)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        status = None
    if sort not in SORT_KEYS and not (sort.startswith("metric:") and len(sort) > 7):
        raise UsageError(f"unknown sort {sort!r}; use one of {', '.join(SORT_KEYS)} or "
                         "metric:<name>.")
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be asc or desc, not {order!r}.")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise UsageError(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}.")
    values, keys = parse_tags(tags)
    text = (text or "").strip().lower() or None
    start = (page - 1) * per_page
    now = time.time()
    if sort == "created" and order == "desc" and text is None:
        # Fast path: the store's own order, only as many rows as this page needs.
        rows = list_runs(ws, experiment=experiment, status=status, tags=values or None,
                         tag_keys=keys, limit=start + per_page + 1)
        has_more = len(rows) > start + per_page
        rows = rows[start:start + per_page]
        total = None
        if not values and not keys:
            total = _count(ws, experiment, status)
        elif not has_more:
            total = start + len(rows)
    else:
        every = _CACHE.get(ws, (experiment, status, tuple(sorted(values.items())),
                                tuple(keys)),
                           lambda: list_runs(ws, experiment=experiment, status=status,
                                             tags=values or None, tag_keys=keys))
        tag_map: dict[str, dict[str, Any]] = {}
        if text is not None:
            every = [r for r in every if _matches(ws, r, text, tag_map)]
        every = sorted(every, key=_sort_key(sort, now), reverse=order == "desc")
        total = len(every)
        rows = every[start:start + per_page]
        has_more = start + per_page < total
        rows = _liveness.reconcile_all(ws.store, [dict(r) for r in rows])
    items = [_run_item(ws, row, now) for row in rows]
    names = sorted({name for item in items for name in item["metrics"]})
    return {"runs": items, "total": total, "page": page, "per_page": per_page,
            "has_more": has_more, "metric_names": names}


def _count(ws: Workspace, experiment: str | None, status: str | None) -> int:
    total = 0
    for item in ws.store.experiments():
        if experiment is None or item["name"] == experiment:
            total += item["statuses"].get(status, 0) if status else item["runs"]
    return total


def _matches(ws: Workspace, row: dict[str, Any], text: str,
             tag_map: dict[str, dict[str, Any]]) -> bool:
    definition = row.get("definition") or {}
    fields = [row["id"], row.get("display_name") or "", row["experiment"], row["status"],
              str(definition.get("script") or "")]
    if any(text in f.lower() for f in fields):
        return True
    tags = tag_map.get(row["id"])
    if tags is None:
        tags = tag_map[row["id"]] = ws.store.tags(row["id"])
    return any(text in f"{k}={v}".lower() for k, v in tags.items())


def _sort_key(sort: str, now: float):
    if sort.startswith("metric:"):
        name = sort[7:]

        def by_metric(row: dict[str, Any]) -> tuple:
            value = row.get("metrics", {}).get(name)
            if _metrics.is_number(value) and not (isinstance(value, float) and math.isnan(value)):
                return (1, value, "")
            return (0, 0, "" if value is None else str(value))
        return by_metric
    if sort == "duration":
        return lambda row: duration(row, now) or -1.0
    if sort == "start":
        return lambda row: row.get("start_time") or 0.0
    field = {"created": "created", "status": "status", "id": "id",
             "experiment": "experiment"}.get(sort)
    if field is None:  # name
        return lambda row: (row.get("display_name") or row["id"]).lower()
    return lambda row: row.get(field) or ""


def _run_item(ws: Workspace, row: dict[str, Any], now: float) -> dict[str, Any]:
    definition = row.get("definition") or {}
    return {
        "id": row["id"],
        "experiment": row["experiment"],
        "display_name": row.get("display_name"),
        "type": row["type"],
        "status": row["status"],
        "created": iso(row.get("created")),
        "start_time": iso(row.get("start_time")),
        "end_time": iso(row.get("end_time")),
        "duration": duration(row, now),
        "script": definition.get("script"),
        "metrics": json_safe(row.get("metrics") or {}),
        "tags": ws.store.tags(row["id"]),
    }


class _ListingCache:
    """Full listings kept until the store changes (other sorts and text filters).

    The key of a listing is the store files' (size, mtime) as seen before it
    was read. A listing is only kept when the files had not changed for a
    moment before the read began: file times have a coarse clock, and a write
    within the same tick could otherwise go unnoticed (git's "racy" rule).
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._items: OrderedDict[tuple, tuple[tuple, list[dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ws: Workspace, key: tuple, load) -> list[dict[str, Any]]:
        full_key = (str(ws.root), *key)
        signature, settled = _store_signature(ws)
        with self._lock:
            hit = self._items.get(full_key)
            if hit is not None and hit[0] == signature:
                self._items.move_to_end(full_key)
                return hit[1]
        rows = load()
        if settled and _store_signature(ws)[0] == signature:
            with self._lock:
                self._items[full_key] = (signature, rows)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return rows


_RACY_SECONDS = 0.1


def _store_signature(ws: Workspace) -> tuple[tuple, bool]:
    parts = []
    newest = 0.0
    db = ws.paths.db
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            parts.append(None)
            continue
        parts.append((st.st_ino, st.st_size, st.st_mtime_ns))
        newest = max(newest, st.st_mtime_ns / 1e9)
    return tuple(parts), time.time() - newest > _RACY_SECONDS


_CACHE = _ListingCache()


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
        "error": error,
        "tags": details.get("tags") or {},
        "properties": details.get("properties") or {},
        "children": children,
        "folder": str(run.folder),
    }


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

    ``chart`` is ``line`` (a numeric series of two or more values), ``xy`` (a
    table with numeric columns), ``value`` (logged once), ``text`` (a series of
    strings), ``table`` (a table that cannot be drawn) or ``image``. Series
    themselves come from :func:`series`; values small enough are inline.
    """
    get_run(ws, run_id)
    out = []
    for name, (kind, values) in sorted(ws.store.read_metrics(run_id).items()):
        item: dict[str, Any] = {"name": name, "kind": kind, "count": len(values)}
        if kind == _metrics.IMAGE:
            item["chart"] = "image"
            item["images"] = values[-INLINE_ROWS:]
        elif kind == _metrics.TABLE:
            shaped = _metrics.shape(kind, values)
            if len(values) == 1:
                shaped = {k: [v] for k, v in shaped.items()}
            drawn = _downsample.table_series(values[:2])
            item["chart"] = "xy" if len(values) > 1 and drawn["series"] else "table"
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
           points: int = _downsample.DEFAULT_POINTS) -> dict[str, Any]:
    """One metric as chart data, thinned to about ``points`` points.

    Raises:
        NotFoundError: the run has no metric ``name``.
        UsageError: ``points`` out of range.
    """
    if not 2 <= points <= _downsample.MAX_POINTS:
        raise UsageError(f"points must be 2 to {_downsample.MAX_POINTS}, not {points}.")
    get_run(ws, run_id)
    found = ws.store.read_metrics(run_id, name)
    if name not in found:
        raise NotFoundError(f"run {run_id} has no metric {name!r}.", run_id=run_id, name=name)
    kind, values = found[name]
    if kind == _metrics.TABLE:
        data = _downsample.table_series(values, points)
    elif kind == _metrics.SCALAR:
        data = _downsample.series(values, points)
    else:
        raise UsageError(f"metric {name!r} is an image; it has no series.", name=name)
    data.update(name=name, kind=kind, run_id=run_id)
    return data


# ------------------------------------------------------------------------- compare


def compare(ws: Workspace, run_ids: list[str]) -> dict[str, Any]:
    """Runs side by side: final scalar metrics, tags, arguments and chartable metrics.

    Raises:
        UsageError: no runs or more than 20.
        RunNotFound: one of the runs does not exist.
    """
    if not run_ids or len(run_ids) > 20:
        raise UsageError("compare takes 1 to 20 run ids.")
    last = ws.store.last_metrics(run_ids)
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
            "metrics": json_safe(last.get(run_id, {})),
        })
    return {"runs": out,
            "metric_names": sorted({n for r in out for n in r["metrics"]}),
            "tag_names": sorted({t for r in out for t in r["tags"]}),
            "charts": [{"name": n, "chart": c} for n, c in sorted(charts.items())]}
