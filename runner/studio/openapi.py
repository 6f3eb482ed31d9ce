"""The OpenAPI 3.1 description of the studio's ``/api/``, served at ``/api/openapi.json``.

Why it exists: the API is for scripts as well as for the pages, so it is
described where tools can read it. It is written out by hand, next to the
routes, and a test keeps the two equal (every route documented, nothing
documented that is not a route).
"""

from __future__ import annotations

from typing import Any

_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {"description": "Error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _query(name: str, description: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": kind, **extra}}


def _get(summary: str, response: dict[str, Any], params: list[dict[str, Any]] | None = None,
         run: bool = True) -> dict[str, Any]:
    return {"get": {"summary": summary,
                    "parameters": ([_RUN_ID] if run else []) + (params or []),
                    "responses": {"200": response, "400": _ERROR, "404": _ERROR}}}


_PATHS: dict[str, Any] = {
    "/api/openapi.json": _get("This document.", _json("OpenAPI 3.1 document"), run=False),
    "/api/experiments": _get(
        "Experiments with run counts by status and last activity.",
        _json("Experiments", {"type": "array", "items": {
            "$ref": "#/components/schemas/Experiment"}}), run=False),
    "/api/runs": _get(
        "One page of top-level runs, filtered and sorted.",
        _json("A page of runs", {"$ref": "#/components/schemas/RunsPage"}),
        [_query("experiment", "Only this experiment's runs."),
         _query("status", "Only runs with this status (any case)."),
         {**_query("tag", "KEY or KEY=VALUE; repeat for several (all must match)."),
          "schema": {"type": "array", "items": {"type": "string"}}, "explode": True},
         _query("q", "Text found in the id, name, experiment, status, script or tags."),
         _query("sort", "created, start, duration, status, id, name, experiment, "
                        "metric:<name> or param:<name>.", default="created"),
         _query("filter", "A filter expression, e.g. `metrics.mse < 3000 and "
                          "params.alpha >= 0.5 and status = \"Completed\"`; a bad one is a "
                          "400 naming the column."),
         _query("parent", "List this run's children instead of top-level runs."),
         _query("children", "1 to list child runs too."),
         _query("order", "asc or desc.", enum=["asc", "desc"], default="desc"),
         _query("page", "1-based page.", "integer", minimum=1, default=1),
         _query("per_page", "Runs per page.", "integer", minimum=1, maximum=500,
                default=50)],
        run=False),
    "/api/compare": _get(
        "Runs side by side: final scalar metrics, tags, arguments, chartable metrics.",
        _json("Comparison"),
        [{**_query("runs", "Run ids, comma-separated (1 to 20)."), "required": True}],
        run=False),
    "/api/runs/{run_id}": _get(
        "A run's details: script, arguments, environment, snapshot, exit, error, "
        "tags, children.", _json("Run", {"$ref": "#/components/schemas/Run"})),
    "/api/runs/{run_id}/status": _get(
        "A run's status, times, exit code and error.",
        _json("Status", {"$ref": "#/components/schemas/Status"})),
    "/api/runs/{run_id}/metrics": _get(
        "Every metric with how to show it (line, xy, value, text, table, image).",
        _json("Metrics", {"type": "array", "items": {
            "$ref": "#/components/schemas/Metric"}})),
    "/api/runs/{run_id}/series": _get(
        "One metric as chart data, downsampled (min and max per bucket) to about "
        "`points` points.", _json("Series"),
        [{**_query("name", "The metric."), "required": True},
         _query("points", "The most points returned.", "integer", minimum=2,
                maximum=20000, default=2000),
         _query("axis", "x: the logged step (the position where none was logged), the "
                        "write time, or seconds since the run started.",
                enum=["step", "time", "relative"], default="step"),
         _query("x_min", "Only points with x at least this (a zoom).", "number"),
         _query("x_max", "Only points with x at most this.", "number")]),
    "/api/runs/{run_id}/series.csv": {"get": {
        "summary": "Every value of a scalar metric as CSV: step, value, time.",
        "parameters": [_RUN_ID, {**_query("name", "The metric."), "required": True}],
        "responses": {"200": {"description": "text/csv"}, "400": _ERROR, "404": _ERROR}}},
    "/api/models": _get(
        "Registered models by name, each with its versions (newest first) and files.",
        _json("Models"), run=False),
    "/api/filter": _get(
        "Whether a runs filter parses: {ok, filter (canonical text), message, column}.",
        _json("Filter check"), [_query("filter", "The expression.")], run=False),
    "/api/sweep": _get(
        "A group of runs as a sweep (a parent's children or the runs named): parameters, "
        "final metrics, the primary metric and its goal.", _json("Sweep"),
        [_query("parent", "The parent run."),
         _query("runs", "Run ids, comma-separated, instead of a parent.")], run=False),
    "/api/runs/{run_id}/files": _get(
        "The run's files (outputs/, logs/, uploads) with sizes.", _json("Files", {
            "type": "array", "items": {"type": "object"}})),
    "/api/runs/{run_id}/files/{name}": {"get": {
        "summary": "Download one of the run's files (inline=1 shows an image).",
        "parameters": [_RUN_ID, {"name": "name", "in": "path", "required": True,
                                 "schema": {"type": "string"}},
                       _query("inline", "1 to show an image inline.")],
        "responses": {"200": {"description": "The file"}, "404": _ERROR}}},
    "/api/runs/{run_id}/log": _get(
        "The last lines of logs/std_log.txt.", _json("Lines"),
        [_query("lines", "How many lines.", "integer", default=50)]),
    "/api/runs/{run_id}/log/stream": {"get": {
        "summary": "The log live, as Server-Sent Events: `log` (lines; id = byte offset), "
                   "`status` (on change), `notice`, `end`.",
        "parameters": [_RUN_ID, _query("offset", "Byte offset to start at (the "
                                                 "Last-Event-ID header wins).", "integer")],
        "responses": {"200": {"description": "An event stream",
                              "content": {"text/event-stream": {}}}, "404": _ERROR}}},
    "/api/runs/{run_id}/snapshot": _get(
        "The entries of the run's snapshot (path, kind, size, exec, link target).",
        _json("Snapshot")),
    "/api/runs/{run_id}/snapshot/files/{path}": {"get": {
        "summary": "A file of the run's snapshot (view=1: JSON with its text when it is "
                   "text).",
        "parameters": [_RUN_ID, {"name": "path", "in": "path", "required": True,
                                 "schema": {"type": "string"}},
                       _query("view", "1 for JSON {path, text, size}.")],
        "responses": {"200": {"description": "The file or its text"}, "404": _ERROR}}},
    "/api/runs/{run_id}/children": _get(
        "The run's child runs with their status.", _json("Children", {
            "type": "array", "items": {"$ref": "#/components/schemas/Status"}})),
    "/api/runs/{run_id}/cancel": {"post": {
        "summary": "Cancel a live run. Only from the studio's pages: needs the page's "
                   "X-CSRF-Token header and a same-origin Origin or Sec-Fetch-Site.",
        "parameters": [_RUN_ID, {"name": "X-CSRF-Token", "in": "header", "required": True,
                                 "schema": {"type": "string"}}],
        "responses": {"200": _json("Status after the request", {
            "$ref": "#/components/schemas/Status"}), "403": _ERROR, "404": _ERROR}}},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"}}},
    "Experiment": {"type": "object", "properties": {
        "name": {"type": "string"}, "runs": {"type": "integer"},
        "statuses": {"type": "object", "additionalProperties": {"type": "integer"}},
        "created": {"type": "string", "format": "date-time"},
        "last_activity": {"type": "string", "format": "date-time"}}},
    "RunItem": {"type": "object", "properties": {
        "id": {"type": "string"}, "experiment": {"type": "string"},
        "display_name": {"type": ["string", "null"]}, "status": {"type": "string"},
        "start_time": {"type": ["string", "null"]}, "duration": {"type": ["number", "null"]},
        "metrics": {"type": "object"}, "tags": {"type": "object"}}},
    "RunsPage": {"type": "object", "properties": {
        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/RunItem"}},
        "total": {"type": ["integer", "null"]}, "page": {"type": "integer"},
        "per_page": {"type": "integer"}, "has_more": {"type": "boolean"},
        "metric_names": {"type": "array", "items": {"type": "string"}}}},
    "Status": {"type": "object", "properties": {
        "id": {"type": "string"}, "status": {"type": "string"}, "live": {"type": "boolean"},
        "start_time": {"type": ["string", "null"]}, "end_time": {"type": ["string", "null"]},
        "duration": {"type": ["number", "null"]}, "exit_code": {"type": ["integer", "null"]},
        "error": {"type": ["object", "null"]}}},
    "Run": {"type": "object", "properties": {
        "id": {"type": "string"}, "status": {"type": "string"},
        "script": {"type": ["string", "null"]},
        "arguments": {"type": "array", "items": {"type": "string"}},
        "environment": {"type": ["string", "null"]},
        "snapshot_id": {"type": ["string", "null"]},
        "exit_code": {"type": ["integer", "null"]}, "error": {"type": ["object", "null"]},
        "gpus": {"type": ["array", "null"], "items": {"type": "string"}},
        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Status"}}}},
    "Metric": {"type": "object", "properties": {
        "name": {"type": "string"}, "kind": {"type": "string"},
        "count": {"type": "integer"},
        "chart": {"enum": ["line", "xy", "value", "text", "table", "image"]}}},
}


def document() -> dict[str, Any]:
    """The OpenAPI document of the studio's API."""
    from ..core.version import __version__

    return {
        "openapi": "3.1.0",
        "info": {"title": "runner studio API", "version": __version__,
                 "description": "Read a runner workspace: experiments, runs, metrics, "
                                "logs, files and snapshots. Runs on loopback without "
                                "authentication; elsewhere send the studio's token as "
                                "'Authorization: Bearer <token>'."},
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"}}},
    }
