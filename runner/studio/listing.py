"""The runs list: one page of runs, filtered (the shared filter language, a status, tags,
a text), sorted (by a field, a metric or a parameter), with parameter columns and each
parent's children summarised.

Why it exists: the runs page and ``/api/runs`` must list 10,000 runs quickly and filter them
exactly as ``runner runs --filter`` and ``Experiment.get_runs(filter=...)`` do; this module
holds that listing (through :func:`runner.api.experiment.list_runs`, no SQL) and the cache
of full listings that non-default orders and filters need.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import UsageError
from ..core.status import normalize_status
from ..store import liveness as _liveness
from .queries import duration, iso, json_safe
from .ranking import aggregate, primary_goal, primary_metric, settings

if TYPE_CHECKING:
    from ..api.workspace import Workspace

#: Runs per page unless asked otherwise, and the most a page may hold.
PER_PAGE = 50
MAX_PER_PAGE = 500
#: Sort keys of the runs listing (plus ``metric:<name>`` and ``param:<name>``).
SORT_KEYS = ("created", "start", "duration", "status", "id", "name", "experiment")

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
              per_page: int = PER_PAGE, filter: str | None = None,
              parent: str | None = None, children: bool = False) -> dict[str, Any]:
    """One page of top-level runs (or of one run's children), filtered and sorted.

    Args:
        experiment: only this experiment's runs (all experiments when None).
        status: only runs with this status (any case).
        tags: ``KEY`` (has the tag) or ``KEY=VALUE`` filters, all must match.
        text: only runs whose id, name, experiment, status, script or tags
            contain this text (any case).
        sort: one of :data:`SORT_KEYS`, ``metric:<name>`` or ``param:<name>``.
        order: ``asc`` or ``desc``.
        page: 1-based page number.
        per_page: runs per page (1 to :data:`MAX_PER_PAGE`).
        filter: an expression of the filter language (:mod:`runner.core.filter`).
        parent: list this run's children instead of top-level runs.
        children: list child runs too, each as a run of its own (a filter on
            parameters then finds a sweep's trials).

    Returns:
        ``{"runs": [...], "total": int | None, "page", "per_page", "has_more",
        "metric_names": [...], "param_names": [...]}``; ``total`` is None when
        counting would cost a full listing (a tag filter on the fast path). Each run
        has its ``params``, and a parent its ``children`` count and ``aggregate``
        (best and mean of its children's primary metric).

    Raises:
        UsageError: an unknown status, sort key or order, or a bad page.
        FilterError: the filter does not parse (with its column).
    """
    from ..api.experiment import list_runs
    from ..api.run_filter import as_filter

    if status:
        try:
            status = normalize_status(status)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        status = None
    if sort not in SORT_KEYS and not (sort.startswith(("metric:", "param:"))
                                      and len(sort.partition(":")[2]) > 0):
        raise UsageError(f"unknown sort {sort!r}; use one of {', '.join(SORT_KEYS)}, "
                         "metric:<name> or param:<name>.")
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be asc or desc, not {order!r}.")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise UsageError(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}.")
    found = as_filter(filter)
    values, keys = parse_tags(tags)
    text = (text or "").strip().lower() or None
    start = (page - 1) * per_page
    now = time.time()
    if (sort == "created" and order == "desc" and text is None and found is None
            and parent is None):
        # Fast path: the store's own order, only as many rows as this page needs.
        rows = list_runs(ws, experiment=experiment, status=status, tags=values or None,
                         tag_keys=keys, limit=start + per_page + 1,
                         include_children=children)
        has_more = len(rows) > start + per_page
        rows = rows[start:start + per_page]
        total = None
        if not values and not keys and not children:
            total = _count(ws, experiment, status)
        elif not has_more:
            total = start + len(rows)
    else:
        every = _CACHE.get(ws, (experiment, status, tuple(sorted(values.items())),
                                tuple(keys), parent, children),
                           lambda: list_runs(ws, experiment=experiment, status=status,
                                             tags=values or None, tag_keys=keys,
                                             parent_id=parent, include_children=children))
        if found is not None:
            from ..api.run_filter import filter_rows

            every = filter_rows(ws, every, found)  # not cached: durations of live runs move
        tag_map: dict[str, dict[str, Any]] = {}
        if text is not None:
            every = [r for r in every if _matches(ws, r, text, tag_map)]
        params_of = (ws.store.params([r["id"] for r in every])
                     if sort.startswith("param:") else {})
        every = sorted(every, key=_sort_key(sort, now, params_of), reverse=order == "desc")
        total = len(every)
        rows = every[start:start + per_page]
        has_more = start + per_page < total
        rows = _liveness.reconcile_all(ws.store, [dict(r) for r in rows])
    params = ws.store.params([row["id"] for row in rows])
    items = [_run_item(ws, row, now, params.get(row["id"], {})) for row in rows]
    _add_children(ws, items)
    names = sorted({name for item in items for name in item["metrics"]})
    param_names = sorted({name for item in items for name in item["params"]})
    return {"runs": items, "total": total, "page": page, "per_page": per_page,
            "has_more": has_more, "metric_names": names, "param_names": param_names,
            "filter": str(found) if found is not None else None}


def _add_children(ws: Workspace, items: list[dict[str, Any]]) -> None:
    """Each item's child count, and for a parent the aggregate of its primary metric."""
    kids = {item["id"]: ws.store.children(item["id"]) for item in items}
    last = ws.store.last_metrics([c["id"] for group in kids.values() for c in group])
    for item in items:
        group = [{"metrics": last.get(c["id"], {})} for c in kids[item["id"]]]
        item["children"] = len(group)
        item["aggregate"] = None
        if group:
            properties = settings(ws.store.get_run(item["id"]),
                                  ws.store.properties(item["id"]))
            name = primary_metric(properties, group)
            if name is not None:
                item["aggregate"] = json_safe(aggregate(group, name,
                                                        primary_goal(name, properties)))


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


def _sort_key(sort: str, now: float, params: dict[str, dict[str, Any]]):
    if sort.startswith("param:"):
        pname = sort[6:]

        def by_param(row: dict[str, Any]) -> tuple:
            value = params.get(row["id"], {}).get(pname)
            if value is None:
                return (0, 0, "")
            try:
                number = float(value)
            except ValueError:
                return (1, 0, value)
            return (2, number, "") if math.isfinite(number) else (1, 0, value)
        return by_param
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


def _run_item(ws: Workspace, row: dict[str, Any], now: float,
              params: dict[str, Any]) -> dict[str, Any]:
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
        "params": params,
        "parent_id": row.get("parent_id"),
        "gpus": row.get("gpus"),
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

