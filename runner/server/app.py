"""The tracking server's endpoints: a small read API and what a remote run writes.

All under ``/api/v1``; JSON in and out (NaN and infinities allowed, as Python's
``json`` writes them); errors are ``{"error": message}`` with a 4xx status::

    GET    /health                          {"status": "ok", "workspace": ROOT, "version"}
    GET    /runs?experiment=&status=&limit= {"runs": [row, ...]}
    GET    /runs/{id}                       {"run": row, "tags": {}, "properties": {}}
    GET    /runs/{id}/metrics?name=&raw=1   {"metrics": {name: shaped}}, "raw": {name: [kind, vals]}
    GET    /runs/{id}/files                 {"files": [...], "artifacts": [...]}
    GET    /runs/{id}/files/{name}          the file's bytes (streamed)
    POST   /runs/{id}/metrics               {"sender", "seq", "metrics": [entry]}
    PATCH  /runs/{id}                       {"error"?, "display_name"?, "description"?, "status"?}
    POST   /runs/{id}/tags                  {"set"?: {k: v}, "remove"?: [k]}
    POST   /runs/{id}/properties            {k: v} (add-only)
    PUT    /runs/{id}/artifacts/{name}      the file's bytes, streamed to disk
    POST   /runs/{id}/heartbeat             -> {"status", "cancel_requested"}

A metric entry is ``{"name", "kind", "values": [...], "steps": [...] | null}``.

Artifact names are checked like local uploads (``_artifacts.artifact_name``):
relative, no ``..``, never outside the run folder. Names under ``outputs/`` and
``logs/`` are the run's record folders (the job's wrapper syncs them at the
end; a later upload replaces an earlier one); any other name is a write-once
upload, registered in the store. ``logs/std_log.txt`` and ``logs/env_build.txt``
belong to the run's owner and cannot be uploaded.

A metric batch is stored once per ``(sender, seq)``, durably (the key is kept in
the store, in the transaction that stores the values): the in-run sender, or the
job's wrapper replaying its spool, retries a batch whose answer was lost, and the
retry must not add the values twice, not even across a restart of this server.

Tokens: the workspace token (``--token``) opens everything. A per-run token
(:func:`runner.api.remote_http.per_run_token`, derived from the workspace token
by the run's owner, so the workspace token never leaves the submitting machine)
opens ``/health`` and ``/runs/{that run}/...`` only, and its writes only while that
run is not finished. Metric writes to a finished run are refused with any token.
"""

from __future__ import annotations

import hmac
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ..core import metrics as _metrics
from ..core.errors import ArtifactError, NotFoundError, RunnerError, UsageError
from ..core.status import RunStatus, normalize_status
from ..store import artifacts as _artifacts

#: Files of a run's ``logs/`` that only the run's owner writes.
RESERVED = frozenset({"logs/std_log.txt", "logs/env_build.txt"})
_KINDS = frozenset({_metrics.SCALAR, _metrics.TABLE, _metrics.IMAGE})
_PATCHABLE = ("error", "display_name", "description", "status")


class _Json(JSONResponse):
    """JSON that keeps NaN and infinities (Starlette's default refuses them)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str) -> Response:
    return _Json({"error": message}, status_code=status)


def routes(ws: Any, token: str | None = None) -> list[BaseRoute]:
    """The server's routes over workspace ``ws``, for mounting in another Starlette app.

    Args:
        ws: the :class:`runner.Workspace` served.
        token: when set, every request must carry ``Authorization: Bearer <token>``.
    """
    api = _Api(ws, token)
    table: list[tuple[str, Callable, list[str]]] = [
        ("/api/v1/health", api.health, ["GET"]),
        ("/api/v1/runs", api.list_runs, ["GET"]),
        ("/api/v1/runs/{run_id}", api.get_run, ["GET"]),
        ("/api/v1/runs/{run_id}", api.patch_run, ["PATCH"]),
        ("/api/v1/runs/{run_id}/metrics", api.get_metrics, ["GET"]),
        ("/api/v1/runs/{run_id}/metrics", api.post_metrics, ["POST"]),
        ("/api/v1/runs/{run_id}/files", api.list_files, ["GET"]),
        ("/api/v1/runs/{run_id}/files/{name:path}", api.get_file, ["GET"]),
        ("/api/v1/runs/{run_id}/tags", api.post_tags, ["POST"]),
        ("/api/v1/runs/{run_id}/properties", api.post_properties, ["POST"]),
        ("/api/v1/runs/{run_id}/artifacts/{name:path}", api.put_artifact, ["PUT"]),
        ("/api/v1/runs/{run_id}/heartbeat", api.heartbeat, ["POST"]),
    ]
    return [Route(path, api.guard(handler), methods=methods) for path, handler, methods in table]


def create_app(ws: Any, token: str | None = None, *, studio: bool = False) -> Starlette:
    """A Starlette app serving :func:`routes` of ``ws`` (mount it, or run it with uvicorn).

    With ``studio``, the studio's pages and read API (``/``, ``/api/...``) are served
    beside these routes when the studio is installed, behind its own guard.
    """
    mounted: list[BaseRoute] = list(routes(ws, token))
    if studio:
        try:
            from ..studio.app import create_app as studio_app
        except ImportError:
            pass
        else:
            mounted.append(Mount("/", app=studio_app(ws, token=token)))
    return Starlette(routes=mounted)


class _Api:
    """The endpoint functions, sharing the workspace, its store and the token."""

    def __init__(self, ws: Any, token: str | None) -> None:
        self.ws = ws
        self.store = ws.store
        self._token = token.encode() if token else None
        self._secret = token
        self.heartbeats: dict[str, float] = {}

    # ------------------------------------------------------------ plumbing

    def guard(self, handler: Callable) -> Callable:
        """Wrap ``handler``: check the token, turn runner errors into JSON answers."""

        async def endpoint(request: Request) -> Response:
            if self._token is not None:
                refused = await self._authorize(request)
                if refused is not None:
                    return refused
            try:
                return await handler(request)
            except NotFoundError as exc:
                return _error(404, exc.message)
            except ArtifactError as exc:
                taken = "already" in exc.message
                return _error(409 if taken else 400, exc.message)
            except RunnerError as exc:
                return _error(400 if isinstance(exc, UsageError) else 500, exc.message)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def _authorize(self, request: Request) -> Response | None:
        """None when the request's token may do what it asks, else the refusal."""
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        value = value.strip()
        # compare_digest: the time taken does not tell how much of a guess was right
        if scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self._token or b""):
            return None
        from ..api.remote_http import run_of_token

        scope = run_of_token(self._secret or "", value) if scheme.lower() == "bearer" else None
        if scope is None:
            return _error(401, "a valid 'Authorization: Bearer <token>' header is required by "
                               "this tracking server")
        if request.url.path == "/api/v1/health":
            return None
        if request.path_params.get("run_id") != scope:
            return _error(403, f"this token belongs to run {scope} and opens only that run.")
        if request.method != "GET":
            try:
                row = await self._row(scope)
            except NotFoundError as exc:
                return _error(404, exc.message)
            if row["status"] in RunStatus.TERMINAL:
                return _error(409, f"run {scope} has ended ({row['status']}); its token no "
                                   "longer writes.")
        return None

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise UsageError(f"the request body is not valid JSON: {exc}") from None

    async def _row(self, run_id: str) -> dict[str, Any]:
        return await run_in_threadpool(self.store.get_run, run_id)

    # ------------------------------------------------------------ reads

    async def health(self, request: Request) -> Response:
        from ..core.version import __version__

        return _Json({"status": "ok", "workspace": str(self.ws.root), "version": __version__})

    async def list_runs(self, request: Request) -> Response:
        q = request.query_params
        limit = q.get("limit")
        rows = await run_in_threadpool(
            self.store.query_runs, experiment=q.get("experiment"), status=q.get("status"),
            parent_id=q.get("parent"), limit=int(limit) if limit and limit.isdigit() else None)
        return _Json({"runs": rows})

    async def get_run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        def read() -> dict[str, Any]:
            from ..store.liveness import reconcile

            row = reconcile(self.store, self.store.get_run(run_id))
            return {"run": row, "tags": self.store.tags(run_id),
                    "properties": self.store.properties(run_id)}

        return _Json(await run_in_threadpool(read))

    async def get_metrics(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        q = request.query_params
        await self._row(run_id)
        raw = await run_in_threadpool(self.store.read_metrics, run_id, q.get("name") or None,
                                      system=q.get("system") in ("1", "true"))
        out: dict[str, Any] = {"metrics": {n: _metrics.shape(k, v) for n, (k, v) in raw.items()}}
        if q.get("raw") in ("1", "true"):
            out["raw"] = {n: [k, v] for n, (k, v) in raw.items()}
        return _Json(out)

    async def list_files(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await self._row(run_id)
        artifacts = await run_in_threadpool(self.store.artifacts, run_id)
        names = set(artifacts) | set(_artifacts.record_files(self.ws.paths.run_dir(run_id)))
        return _Json({"files": sorted(names), "artifacts": artifacts})

    async def get_file(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await self._row(run_id)
        name = _artifacts.artifact_name(request.path_params["name"])
        path = self._inside(run_id, name)
        known = await run_in_threadpool(self.store.artifacts, run_id)
        listed = name in known or (name.split("/", 1)[0] in _artifacts.RECORD_FOLDERS
                                   and not any(p.startswith(".") for p in name.split("/")))
        if not listed or not path.is_file():
            return _error(404, f"run {run_id} has no file {name!r}.")
        return FileResponse(path)

    # ------------------------------------------------------------ writes

    async def post_metrics(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await self._body(request)
        drained = _drained(body.get("metrics"))
        row = await self._row(run_id)
        if row["status"] in RunStatus.TERMINAL:
            return _error(409, f"run {run_id} has ended ({row['status']}); metrics logged to a "
                               "finished run are refused.")
        sender, seq = body.get("sender"), body.get("seq")
        batch = (str(sender), seq) if sender and isinstance(seq, int) else None
        stored = await run_in_threadpool(self.store.write_metrics, run_id, drained, batch=batch)
        if stored is False:
            return _Json({"stored": 0, "duplicate": True})
        return _Json({"stored": sum(len(d[2]) for d in drained)})

    async def patch_run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await self._body(request)
        if not isinstance(body, dict) or not body or set(body) - set(_PATCHABLE):
            raise UsageError(f"PATCH takes a JSON object with some of {', '.join(_PATCHABLE)}.")
        row = await self._row(run_id)
        fields: dict[str, Any] = {}
        for key in ("display_name", "description"):
            if key in body:
                fields[key] = None if body[key] is None else str(body[key])
        if "error" in body:
            error = body["error"]
            if error is not None and not isinstance(error, dict):
                raise UsageError("error must be an object like {'error': {'message': ...}}.")
            fields["error"] = error
        only = None
        if "status" in body:
            if row["type"] == "script":
                return _error(409, f"run {run_id} is a submitted run: its status comes from "
                                   "its program's exit, not from a request.")
            try:
                status = normalize_status(str(body["status"]))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            fields["status"] = status
            if status in RunStatus.TERMINAL:
                fields["end_time"] = time.time()
            only = tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL)
        changed = await run_in_threadpool(
            lambda: self.store.update_run(run_id, only_if_status=only, **fields))
        return _Json({"changed": bool(changed)})

    async def post_tags(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await self._body(request)
        tags, remove = body.get("set") or {}, body.get("remove") or []
        if not isinstance(tags, dict) or not isinstance(remove, list):
            raise UsageError("tags take {'set': {key: value}, 'remove': [key, ...]}.")
        await self._row(run_id)
        if tags:
            await run_in_threadpool(self.store.set_tags, run_id, tags)
        if remove:
            await run_in_threadpool(self.store.remove_tags, run_id, [str(k) for k in remove])
        return _Json({"changed": len(tags) + len(remove)})

    async def post_properties(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await self._body(request)
        if not isinstance(body, dict):
            raise UsageError("properties take a JSON object {key: value}.")
        await self._row(run_id)
        await run_in_threadpool(self.store.add_properties, run_id, body)
        return _Json({"changed": len(body)})

    async def heartbeat(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        row = await self._row(run_id)
        now = time.time()
        self.heartbeats[run_id] = now
        return _Json({"status": row["status"],
                      "cancel_requested": row["cancel_requested"] is not None})

    async def put_artifact(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        name = _artifacts.artifact_name(request.path_params["name"])
        if name in RESERVED:
            return _error(409, f"{name} is written by the run's owner and cannot be uploaded.")
        await self._row(run_id)
        dest = self._inside(run_id, name)
        record = name.split("/", 1)[0] in _artifacts.RECORD_FOLDERS
        if not record:
            if dest.exists():
                raise ArtifactError(f"run {run_id} already has a file named {name!r}; artifacts "
                                    "are write-once, upload under another name.", name=name)
            await run_in_threadpool(self.store.add_artifact, run_id, name)
        try:
            written = await receive_file(request, dest, replace=record)
        except BaseException:
            if not record:
                await run_in_threadpool(self.store.remove_artifact, run_id, name)
            raise
        return _Json({"name": name, "bytes": written}, status_code=201)

    def _inside(self, run_id: str, name: str) -> Path:
        """The path of artifact ``name`` in the run folder, refusing symlinked escapes."""
        run_dir = self.ws.paths.run_dir(run_id)
        path = run_dir / name
        real_root = os.path.realpath(run_dir)
        real = os.path.realpath(path.parent)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise ArtifactError(f"artifact name {name!r} leads outside the run folder.",
                                name=name)
        return path


async def receive_file(request: Request, dest: Path, *, replace: bool) -> int:
    """Write the request body to ``dest`` chunk by chunk as it arrives (never whole in
    memory): into a hidden ``.part`` file beside it, then renamed (``replace``) or
    linked (write-once) into place. Returns the bytes written.

    Raises:
        ArtifactError: ``dest`` exists and ``replace`` is False.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
    written = 0
    try:
        with open(part, "wb") as out:
            async for chunk in request.stream():
                if chunk:
                    out.write(chunk)
                    written += len(chunk)
        expected = request.headers.get("content-length")
        if expected is not None and expected.isdigit() and int(expected) != written:
            raise UsageError(f"upload of {dest.name} ended after {written} of {expected} bytes; "
                             "send it again.")
        if replace:
            os.replace(part, dest)
        else:
            try:
                os.link(part, dest)
            except FileExistsError:
                raise ArtifactError(f"a file already exists at {dest.name}; artifacts are "
                                    "write-once.", path=str(dest)) from None
    finally:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
    return written


def _drained(entries: Any) -> list[tuple[str, str, list[Any], list[Any] | None, None]]:
    """Validate posted metric entries into what ``Store.write_metrics`` takes."""
    if not isinstance(entries, list):
        raise UsageError("metrics must be a list of {name, kind, values, steps} objects.")
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise UsageError("each metric entry must be an object {name, kind, values, steps}.")
        name, kind = entry.get("name"), entry.get("kind")
        values, steps = entry.get("values"), entry.get("steps")
        if not isinstance(name, str) or not name:
            raise UsageError(f"metric name must be a non-empty string, not {name!r}.")
        if kind not in _KINDS:
            raise UsageError(f"metric {name!r}: kind must be one of {sorted(_KINDS)}, "
                             f"not {kind!r}.")
        if not isinstance(values, list) or not values:
            raise UsageError(f"metric {name!r}: values must be a non-empty list.")
        if steps is not None and (not isinstance(steps, list) or len(steps) != len(values)):
            raise UsageError(f"metric {name!r}: steps must be null or a list as long as values.")
        out.append((name, kind, values, steps, None))
    return out
