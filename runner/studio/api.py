"""The studio's JSON API under ``/api/`` and the live log stream.

Why it exists: the pages draw themselves from this API, and scripts may use it
too (it is described by ``/api/openapi.json``, see :mod:`._openapi`). Each
handler reads its parameters, calls one function of :mod:`._queries` (the
public API underneath; no SQL here) and returns JSON. Blocking reads run in
Starlette's thread pool (plain ``def`` handlers).

The live log is Server-Sent Events: ``event: log`` carries new complete lines
(its ``id`` is the byte offset reached, so a reconnecting ``EventSource``
resumes where it stopped), ``event: partial`` the current state of an unfinished
last line (a ``\r`` progress bar as it moves; replaced by the next one, dropped when
the line ends), ``event: status`` the run's status whenever it changes, and
``event: end`` closes the stream once the run has ended and its
last line was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..core.errors import UsageError
from . import files as _files
from . import listing as _listing
from . import queries as _queries
from .openapi import document
from .security import FILE_POLICY, same_origin_problem

#: Seconds between looks at a growing log, and between status checks.
LOG_POLL = 0.2
STATUS_POLL = 0.5
#: Seconds between comment lines that keep an idle stream open through proxies.
HEARTBEAT = 15.0
#: The most bytes of log one event carries.
EVENT_BYTES = 256 * 1024


class JSON(JSONResponse):
    """JSON with NaN and infinities as null, compact, UTF-8."""

    def render(self, content: Any) -> bytes:
        return json.dumps(_queries.json_safe(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def _ws(request: Request):
    return request.app.state.workspace


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}.") from None


# --------------------------------------------------------------------------- reads


def experiments(request: Request) -> Response:
    return JSON(_queries.experiments(_ws(request)))


def runs(request: Request) -> Response:
    q = request.query_params
    return JSON(_listing.runs_page(
        _ws(request), experiment=q.get("experiment") or None, status=q.get("status") or None,
        tags=q.getlist("tag"), text=q.get("q"), sort=q.get("sort") or "created",
        order=q.get("order") or "desc", page=_int(request, "page", 1),
        per_page=_int(request, "per_page", _listing.PER_PAGE),
        filter=q.get("filter") or None, parent=q.get("parent") or None,
        children=q.get("children") == "1",
    ))


def run(request: Request) -> Response:
    return JSON(_queries.run_summary(_ws(request), request.path_params["run_id"]))


def status(request: Request) -> Response:
    return JSON(_queries.status_item(_ws(request), request.path_params["run_id"]))


def metrics(request: Request) -> Response:
    return JSON(_queries.metrics(_ws(request), request.path_params["run_id"]))


def series(request: Request) -> Response:
    name = request.query_params.get("name")
    if not name:
        raise UsageError("series needs ?name=<metric>.")
    q = request.query_params
    return JSON(_queries.series(_ws(request), request.path_params["run_id"], name,
                                _int(request, "points", _queries._downsample.DEFAULT_POINTS),
                                axis=q.get("axis") or "step", x_min=q.get("x_min"),
                                x_max=q.get("x_max")))


def series_csv(request: Request) -> Response:
    """A scalar metric, every value, as CSV (step, value, time); streamed by chunk."""
    name = request.query_params.get("name")
    if not name:
        raise UsageError("series.csv needs ?name=<metric>.")
    rows = _queries.series_csv(_ws(request), request.path_params["run_id"], name)
    filename = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + ".csv"
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{filename}"'})


def models(request: Request) -> Response:
    return JSON(_queries.models(_ws(request)))


def check_filter(request: Request) -> Response:
    """Whether a filter parses: its canonical text, or the error with its column (200 both
    ways, so a page can check what is typed before listing runs)."""
    from ..api.run_filter import as_filter
    from ..core.filter import FilterError

    text = request.query_params.get("filter") or ""
    try:
        found = as_filter(text)
    except FilterError as exc:
        return JSON({"ok": False, "filter": None, "message": exc.message,
                     "column": exc.context.get("column")})
    return JSON({"ok": True, "filter": None if found is None else str(found), "message": None,
                 "column": None})


def sweep(request: Request) -> Response:
    ids = [i for part in request.query_params.getlist("runs") for i in part.split(",") if i]
    return JSON(_queries.sweep(_ws(request), parent=request.query_params.get("parent") or None,
                               run_ids=ids or None))


def files(request: Request) -> Response:
    return JSON(_files.files(_ws(request), request.path_params["run_id"]))


def file(request: Request) -> Response:
    path = _files.run_file(_ws(request), request.path_params["run_id"],
                             request.path_params["name"])
    return _file_response(path, inline=request.query_params.get("inline") == "1")


def log_tail(request: Request) -> Response:
    return JSON({"lines": _files.log_tail(_ws(request), request.path_params["run_id"],
                                            _int(request, "lines", 50))})


def snapshot(request: Request) -> Response:
    return JSON(_files.snapshot(_ws(request), request.path_params["run_id"]))


def snapshot_file(request: Request) -> Response:
    path = _files.snapshot_file(_ws(request), request.path_params["run_id"],
                                  request.path_params["path"])
    if request.query_params.get("view") == "1":
        if _files.is_text(path):
            return JSON({"path": request.path_params["path"], "text": path.read_text("utf-8"),
                         "size": path.stat().st_size})
        return JSON({"path": request.path_params["path"], "text": None,
                     "size": path.stat().st_size})
    return _file_response(path, inline=False)


def children(request: Request) -> Response:
    return JSON(_queries.run_summary(_ws(request), request.path_params["run_id"])["children"])


def compare(request: Request) -> Response:
    ids = [i for part in request.query_params.getlist("runs") for i in part.split(",") if i]
    return JSON(_queries.compare(_ws(request), ids))


def openapi(request: Request) -> Response:
    return JSON(document())


def _file_response(path: Path, inline: bool) -> Response:
    media = _files.image_type(path.name)
    show = inline and media is not None
    response = FileResponse(path, media_type=media if show else None,
                            filename=None if show else path.name,
                            content_disposition_type="inline" if show else "attachment")
    response.headers["content-security-policy"] = FILE_POLICY
    return response


# -------------------------------------------------------------------------- writes


def cancel(request: Request) -> Response:
    problem = same_origin_problem(request.headers, request.url.scheme, request.app.state.csrf)
    if problem is not None:
        return JSON({"error": "forbidden", "message": f"refused: {problem}."}, status_code=403)
    return JSON(_queries.cancel(_ws(request), request.path_params["run_id"]))


# ------------------------------------------------------------------------ live log


def read_log(path: Path, offset: int, final: bool = False,
             limit: int = EVENT_BYTES) -> tuple[list[str], int]:
    """Complete lines of ``path`` from byte ``offset``, and the offset after them.

    Stateless, unlike :class:`runner.execution.logs.LogFollower`, so a stream can resume
    at any offset a browser reports (``Last-Event-ID``). An unterminated last
    line is only returned when ``final``. Decoded as UTF-8 with replacement.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(limit)
    except (FileNotFoundError, NotADirectoryError):
        return [], offset
    if not data:
        return [], offset
    end = data.rfind(b"\n") + 1
    if end == 0 and not (final or len(data) == limit):
        return [], offset
    if end == 0 or (final and len(data) < limit):
        end = len(data)
    text = data[:end].decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines, offset + end


#: The most bytes of an unfinished last line sent as its current state.
PARTIAL_BYTES = 16 * 1024


def read_partial(path: Path, offset: int) -> str:
    """The unfinished last line from ``offset`` (no newline yet), as its terminal shows it
    now: a progress bar rewritten with ``\r`` is sent from its last ``\r`` on, so its
    latest state shows while it runs. Empty when there is none. Cut at a whole UTF-8
    character."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= offset:
                return ""
            start = max(offset, size - PARTIAL_BYTES)
            f.seek(start)
            data = f.read(size - start)
    except (FileNotFoundError, NotADirectoryError):
        return ""
    if b"\n" in data:
        return ""  # a whole line is waiting: the next read sends it
    cut = data.rstrip(b"\r").rfind(b"\r")
    if cut >= 0:
        data = data[cut + 1:]
    return data.decode("utf-8", errors="ignore")


def _next_line(path: Path, offset: int) -> int:
    """The offset of the first line that starts at or after ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, offset - 1))
            data = f.read(64 * 1024)
    except OSError:
        return offset
    found = data.find(b"\n")
    return offset if found < 0 else max(0, offset - 1) + found + 1


def _event(name: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    payload = json.dumps(_queries.json_safe(data), ensure_ascii=False, allow_nan=False)
    return f"{head}event: {name}\ndata: {payload}\n\n"


async def log_stream(request: Request) -> Response:
    ws = _ws(request)
    run_id = request.path_params["run_id"]
    first = await run_in_threadpool(_queries.status_item, ws, run_id)
    path = ws.paths.run_dir(run_id) / "logs" / "std_log.txt"
    resume = request.headers.get("last-event-id") or request.query_params.get("offset")
    if resume is not None:
        try:
            start = max(0, int(resume))
        except ValueError:
            raise UsageError(f"offset must be a whole number, not {resume!r}.") from None
    else:
        start = _files.log_start(path)

    stopping = request.app.state.stopping

    async def events():
        offset = start
        yield "retry: 1000\n\n"
        if resume is None and start > 0:
            yield _event("notice", {"message": f"the first {start} bytes of the log are "
                                               "left out; download the file for all of it",
                                    "skipped": start})
            offset = _next_line(path, offset)
        status = first
        partial = ""
        yield _event("status", status)
        last_beat = time.monotonic()
        last_status = last_beat if status["live"] else float("-inf")  # ended: finish now
        while True:
            if stopping.is_set():
                return  # the server is stopping (the browser will reconnect)
            lines, offset = read_log(path, offset)
            if lines:
                partial = ""
                yield _event("log", {"lines": lines}, offset)
                last_beat = time.monotonic()
                continue  # more may be waiting: read again before sleeping
            tail = read_partial(path, offset) if status["live"] else ""
            if tail != partial:
                partial = tail
                yield _event("partial", {"text": tail}, offset)
            now = time.monotonic()
            if now - last_status >= STATUS_POLL:
                last_status = now
                fresh = await run_in_threadpool(_queries.status_item, ws, run_id)
                if fresh["status"] != status["status"]:
                    yield _event("status", fresh)
                status = fresh
                if not status["live"]:
                    while True:
                        lines, offset = read_log(path, offset, final=True)
                        if not lines:
                            break
                        yield _event("log", {"lines": lines}, offset)
                    yield _event("end", {"status": status["status"]}, offset)
                    return
            if now - last_beat >= HEARTBEAT:
                last_beat = now
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(LOG_POLL)

    return StreamingResponse(events(), media_type="text/event-stream", headers={
        "cache-control": "no-cache", "x-accel-buffering": "no"})


ROUTES = [
    Route("/api/openapi.json", openapi),
    Route("/api/experiments", experiments),
    Route("/api/runs", runs),
    Route("/api/compare", compare),
    Route("/api/runs/{run_id}", run),
    Route("/api/runs/{run_id}/status", status),
    Route("/api/runs/{run_id}/metrics", metrics),
    Route("/api/runs/{run_id}/series", series),
    Route("/api/runs/{run_id}/series.csv", series_csv),
    Route("/api/sweep", sweep),
    Route("/api/filter", check_filter),
    Route("/api/models", models),
    Route("/api/runs/{run_id}/files", files),
    Route("/api/runs/{run_id}/files/{name:path}", file),
    Route("/api/runs/{run_id}/log", log_tail),
    Route("/api/runs/{run_id}/log/stream", log_stream),
    Route("/api/runs/{run_id}/snapshot", snapshot),
    Route("/api/runs/{run_id}/snapshot/files/{path:path}", snapshot_file),
    Route("/api/runs/{run_id}/children", children),
    Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
]
