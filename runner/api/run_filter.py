"""Runs as the plain views the filter language reads, and filtering listings by them.

Why it exists: ``Experiment.get_runs(filter=...)``, ``runner runs --filter`` and the
studio's runs list must agree on what ``metrics.mse < 3 and params.lr >= 0.1`` keeps. All
three go through :func:`filter_rows` here, so a run's view (see
:mod:`runner.core.filter` for its keys) is built in one place, from the store rows
:func:`runner.api.experiment.list_runs` returns plus a few bulk reads (parameters for
every run at once; tags and properties only when the filter names them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..core.filter import Filter
from ..core.filter_parse import parse_filter

if TYPE_CHECKING:
    from .workspace import Workspace


def as_filter(value: str | Filter | None) -> Filter | None:
    """``value`` parsed (a :class:`Filter` is returned as is; None or blank is None).

    Raises:
        FilterError: the text does not parse (the message shows where).
        UsageError: ``value`` is neither text nor a Filter.
    """
    from ..core.errors import UsageError

    if value is None or isinstance(value, Filter):
        return value
    if not isinstance(value, str):
        raise UsageError(f"filter must be text such as \"metrics.loss < 0.5\", not "
                         f"{type(value).__name__}.")
    return parse_filter(value) if value.strip() else None


def run_view(row: dict[str, Any], *, params: dict[str, Any] | None = None,
             tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
             now: float | None = None) -> dict[str, Any]:
    """The view of one run that :meth:`Filter.matches` reads.

    Args:
        row: a run as :func:`~runner.api.experiment.list_runs` returns it (with
            ``metrics``, the last scalar of each).
        params, tags, properties: the run's, when known (empty otherwise).
        now: the time a running run's duration is measured to.
    """
    definition = row.get("definition") or {}
    start, end = row.get("start_time"), row.get("end_time")
    duration = None
    if start is not None:
        duration = max(0.0, (end if end is not None else (now or time.time())) - start)
    return {
        "status": row.get("status"), "name": row.get("display_name"), "id": row.get("id"),
        "experiment": row.get("experiment"), "type": row.get("type"),
        "created": row.get("created"), "started": start, "ended": end, "duration": duration,
        "user": definition.get("user"), "target": definition.get("target") or "local",
        "parent": row.get("parent_id"), "metrics": row.get("metrics") or {},
        "params": params or {}, "tags": tags or {}, "properties": properties or {},
    }


def filter_rows(workspace: Workspace, rows: list[dict[str, Any]],
                spec: str | Filter | None) -> list[dict[str, Any]]:
    """The rows whose views match ``spec`` (all of them when it is None), in order."""
    found = as_filter(spec)
    if found is None:
        return rows
    namespaces = {f.namespace for f in found.fields()}
    store = workspace.store
    ids = [row["id"] for row in rows]
    params = store.params(ids) if "params" in namespaces else {}
    now = time.time()
    out = []
    for row in rows:
        view = run_view(
            row, params=params.get(row["id"]), now=now,
            tags=store.tags(row["id"]) if "tags" in namespaces else None,
            properties=store.properties(row["id"]) if "properties" in namespaces else None)
        if found.matches(view):
            out.append(row)
    return out
