"""The in-run side of a run on another machine: its "store" is a tracking server.

When ``RUNNER_TRACKING_URI`` is ``http(s)://...`` (a run on a Ray cluster, say),
``Run.get_context()`` returns a :class:`RemoteRun`: the same ``Run`` API, whose
store is an :class:`HttpStore` talking to ``runner server`` instead of SQLite.

Writes never block or kill the training loop. ``run.log`` still only appends to
memory (``_metrics.MetricBuffer``); the flusher thread hands what was logged to
:class:`HttpStore`, which queues it; one sender thread posts the queue in
batches, in order, retrying with exponential backoff (capped) while the server
is slow or down. The queue is bounded (:data:`MAX_BUFFER_BYTES`): past it the
oldest queued writes are dropped and counted. At exit (and on SIGTERM) the
queue is flushed for a few seconds at most, so a dead server never hangs the
script's exit; what is still queued then goes to the job-local spool
(``RUNNER_SPOOL_DIR``, :mod:`runner.api.remote_http`) for the job's wrapper to
send later, or, without a spool, is dropped, counted and announced on stderr,
which is the run's log.

Metric batches carry a sender id and a sequence number (kept in the spool) so
that a batch retried after a lost response is not stored twice. Reads (``get_metrics``,
``get_tags``...) first flush, then ask the server.

Standard library only: this module runs inside the job, where only the
interpreter and the shipped ``runner`` package are available.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import deque
from pathlib import Path
from typing import IO, Any

from ..core.errors import StoreError, UsageError
from ..store import artifacts as _artifacts
from .remote_http import (  # noqa: F401 - re-exported: the in-run HTTP API in one place
    API,
    CA_VAR,
    REQUEST_TIMEOUT,
    SPOOL_VAR,
    HttpClient,
    PermanentError,
    TransientError,
    announce,
    per_run_token,
    run_path,
    spool_write,
)
from .run import Run

#: Queued writes kept in memory while the server cannot be reached, in bytes of JSON.
MAX_BUFFER_BYTES = 64 * 1024 * 1024
#: Largest metrics request body; more queued values go in the next request.
MAX_BATCH_BYTES = 1024 * 1024
#: Seconds of the first retry wait, and the cap of the doubling waits.
BACKOFF_START = 0.2
BACKOFF_CAP = 10.0
#: Seconds spent flushing at exit, and on SIGTERM (Ray kills 3 s after SIGTERM).
EXIT_FLUSH_SECONDS = 5.0
TERM_FLUSH_SECONDS = 1.5
#: Seconds between heartbeats while nothing else is sent.
HEARTBEAT_SECONDS = 30.0
#: Seconds between two reports of dropped writes.
REPORT_EVERY = 30.0


class _Op:
    """One queued write: ``kind`` is metrics, patch, tags, properties or file."""

    __slots__ = ("attempts", "data", "kind", "size", "values")

    def __init__(self, kind: str, data: Any, size: int, values: int = 1) -> None:
        self.kind = kind
        self.data = data
        self.size = size
        self.values = values
        self.attempts = 0


class Sender:
    """The background thread that posts queued writes in order. See the module docstring."""

    def __init__(self, client: HttpClient, run_id: str, *, echo: IO[str] | None = None) -> None:
        self.client = client
        self.run_id = run_id
        self.sender_id = uuid.uuid4().hex
        self._echo = echo
        self._queue: deque[_Op] = deque()
        self._inflight: list[_Op] = []
        self._bytes = 0
        self._cond = threading.Condition()
        self._seq = 0
        self._closing = False
        self._deadline: float | None = None
        self._stopped = False
        self._last_sent = time.monotonic()
        self._last_error: str | None = None
        self.dropped = {"values": 0, "writes": 0}
        self._reported_drops = 0
        self._last_report = 0.0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # ------------------------------------------------------------ producer side

    def put(self, op: _Op) -> None:
        """Queue ``op``; past :data:`MAX_BUFFER_BYTES` the oldest queued ops are dropped."""
        with self._cond:
            if self._stopped:
                self._count_drop(op)
                return
            self._queue.append(op)
            self._bytes += op.size
            while self._bytes > MAX_BUFFER_BYTES and len(self._queue) > 1:
                old = self._queue.popleft()
                self._bytes -= old.size
                self._count_drop(old)
            self._ensure_thread()
            self._cond.notify_all()
        self._report_drops()

    def _count_drop(self, op: _Op) -> None:
        if op.kind == "metrics":
            self.dropped["values"] += op.values
        else:
            self.dropped["writes"] += 1
        if op.kind == "file":
            _remove_spool(op.data["path"])

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="runner-http-sender",
                                            daemon=True)
            self._thread.start()

    def pending(self) -> int:
        """Queued plus in-flight writes."""
        with self._cond:
            return len(self._queue) + len(self._inflight)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent (True) or ``timeout`` passes."""
        end = time.monotonic() + timeout
        with self._cond:
            if self._queue:
                self._ensure_thread()
            self._cond.notify_all()
            while self._queue or self._inflight:
                left = end - time.monotonic()
                if left <= 0 or self._stopped:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def close(self, timeout: float) -> None:
        """Send what is queued for at most ``timeout`` seconds, then stop. What is left
        goes to the job-local spool when there is one (``RUNNER_SPOOL_DIR``), for the
        job's wrapper to send later; otherwise it is lost, counted and reported."""
        with self._cond:
            if self._stopped:
                return
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self.flush(timeout)
        with self._cond:
            self._stopped = True
            left = list(self._inflight) + list(self._queue)
            inflight_seq = self._seq if self._inflight and self._inflight[0].attempts else None
            n_inflight = len(self._inflight)
            self._queue.clear()
            self._inflight = []
            self._bytes = 0
            self._cond.notify_all()
        if left and not self._spool(left, n_inflight, inflight_seq):
            with self._cond:
                for op in left:
                    self._count_drop(op)
        self._report_drops(final=True)
        if self._total_drops():
            announce({"lost": dict(self.dropped), "run": self.run_id}, self._echo)

    def _spool(self, ops: list[_Op], n_inflight: int, inflight_seq: int | None) -> bool:
        """Write unsent ``ops`` to the spool, in order; False when there is none."""
        spool_dir = os.environ.get(SPOOL_VAR)
        if not spool_dir:
            return False
        groups: list[tuple[list[_Op], int | None]] = []
        if n_inflight:
            groups.append((ops[:n_inflight], inflight_seq))
        for op in ops[n_inflight:]:
            last = groups[-1][0] if groups else None
            if op.kind == "metrics" and last and last[0].kind == "metrics" \
                    and groups[-1][1] is None \
                    and sum(o.size for o in last) + op.size <= MAX_BATCH_BYTES:
                last.append(op)
            else:
                groups.append(([op], None))
        records: list[dict[str, Any]] = []
        for group, seq in groups:
            op = group[0]
            if op.kind == "metrics":
                if seq is None:
                    self._seq += 1
                    seq = self._seq
                records.append({"kind": "metrics", "sender": self.sender_id, "seq": seq,
                                "data": [e for g in group for e in g.data],
                                "values": sum(g.values for g in group)})
                continue
            data = op.data
            if op.kind == "file":
                kept = os.path.join(spool_dir, "files", uuid.uuid4().hex)
                try:
                    os.makedirs(os.path.dirname(kept), exist_ok=True)
                    shutil.move(data["path"], kept)
                except OSError:
                    self._count_drop(op)
                    continue
                data = {"name": data["name"], "path": kept}
            records.append({"kind": op.kind, "data": data})
        try:
            spool_write(spool_dir, self.sender_id, records)
        except OSError as exc:
            self._say(f"runner: could not spool {len(records)} unsent write(s) of run "
                      f"{self.run_id} to {spool_dir}: {exc}")
            return False
        return True

    # ------------------------------------------------------------ sender thread

    def _loop(self) -> None:
        delay = BACKOFF_START
        while True:
            with self._cond:
                while not self._queue and not self._inflight and not self._stopped:
                    idle = time.monotonic() - self._last_sent
                    if idle >= HEARTBEAT_SECONDS and not self._closing:
                        break
                    self._cond.wait(HEARTBEAT_SECONDS - idle)
                if self._stopped:
                    return
                if not self._inflight and self._queue:
                    self._inflight = self._take_batch()
                batch = list(self._inflight)
            try:
                if batch:
                    self._send(batch)
                else:
                    self._heartbeat()
            except TransientError as exc:
                self._last_error = str(exc)
                with self._cond:
                    wait = delay * random.uniform(0.8, 1.2)
                    if self._deadline is not None:
                        wait = min(wait, max(0.0, self._deadline - time.monotonic()))
                    self._cond.wait(wait)
                delay = min(delay * 2, BACKOFF_CAP)
                continue
            except PermanentError as exc:
                what = batch[0].kind if batch else "heartbeat"
                self._say(f"runner: the tracking server refused a {what} write of run "
                          f"{self.run_id} and it was dropped: {exc}")
                with self._cond:
                    for op in batch:
                        self._count_drop(op)
                        self._reported_drops = self._total_drops()  # reported just now
            except Exception as exc:  # noqa: BLE001 - never let the thread die
                self._say(f"runner: unexpected error sending to the tracking server: "
                          f"{type(exc).__name__}: {exc}")
                with self._cond:
                    for op in batch:
                        self._count_drop(op)
            delay = BACKOFF_START
            self._last_sent = time.monotonic()
            with self._cond:
                for op in batch:
                    self._bytes -= op.size
                    if op.kind == "file":
                        _remove_spool(op.data["path"])
                self._inflight = []
                self._cond.notify_all()

    def _take_batch(self) -> list[_Op]:
        """The next request's ops: consecutive metric ops up to the batch size, or one op."""
        first = self._queue.popleft()
        batch = [first]
        if first.kind == "metrics":
            size = first.size
            while self._queue and self._queue[0].kind == "metrics" \
                    and size + self._queue[0].size <= MAX_BATCH_BYTES:
                op = self._queue.popleft()
                size += op.size
                batch.append(op)
        return batch

    def _timeout(self) -> float:
        if self._deadline is None:
            return REQUEST_TIMEOUT
        return max(0.05, min(REQUEST_TIMEOUT, self._deadline - time.monotonic()))

    def _send(self, batch: list[_Op]) -> None:
        first = batch[0]
        first.attempts += 1
        if first.kind == "metrics":
            # A batch keeps its sequence number across retries: the server stores
            # a (sender, seq) once, so a retry after a lost answer adds nothing.
            if first.attempts == 1:
                self._seq += 1
            entries = [entry for op in batch for entry in op.data]
            self.client.json("POST", run_path(self.run_id, "metrics"),
                             {"sender": self.sender_id, "seq": self._seq, "metrics": entries},
                             timeout=self._timeout())
        elif first.kind == "file":
            try:
                self.client.put_file(run_path(self.run_id, "artifacts", first.data["name"]),
                                     first.data["path"], timeout=max(self._timeout(), 1.0))
            except PermanentError as exc:
                if not (exc.status == 409 and first.attempts > 1):
                    raise
        elif first.kind == "patch":
            self.client.json("PATCH", run_path(self.run_id), first.data, timeout=self._timeout())
        else:
            self.client.json("POST", run_path(self.run_id, first.kind), first.data,
                             timeout=self._timeout())

    def _heartbeat(self) -> None:
        self.client.json("POST", run_path(self.run_id, "heartbeat"), {"pid": os.getpid()},
                         timeout=self._timeout())

    # ------------------------------------------------------------ reporting

    def _total_drops(self) -> int:
        return self.dropped["values"] + self.dropped["writes"]

    def _report_drops(self, final: bool = False) -> None:
        total = self._total_drops()
        if total == self._reported_drops:
            return
        now = time.monotonic()
        if not final and self._reported_drops and now - self._last_report < REPORT_EVERY:
            return
        self._reported_drops = total
        self._last_report = now
        why = f" (last error: {self._last_error})" if self._last_error else ""
        self._say(
            f"runner: {self.dropped['values']} metric value(s) and {self.dropped['writes']} "
            f"other write(s) of run {self.run_id} could not be sent to the tracking server "
            f"{self.client.base} and were dropped{why}."
            + ("" if final else f" Up to {MAX_BUFFER_BYTES // 2**20} MiB are kept while it is "
               "unreachable; the oldest go first.")
        )

    def _say(self, text: str) -> None:
        out = self._echo or sys.__stderr__ or sys.stderr
        try:
            out.write(text + "\n")
            out.flush()
        except Exception:  # noqa: BLE001 - stderr closed: nothing else to tell
            pass


def _remove_spool(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _entries(drained: list) -> tuple[list[dict[str, Any]], int]:
    """JSON-ready entries of what a MetricBuffer drained, and how many values they hold."""
    out = []
    count = 0
    for name, kind, values, steps, floats in drained:
        values = list(values)
        if floats is not None:
            extra = floats.tolist()
            values.extend(extra)
            if steps is not None:
                steps = list(steps) + [None] * len(extra)
        out.append({"name": name, "kind": kind, "values": values,
                    "steps": None if steps is None else list(steps)})
        count += len(values)
    return out, count


class HttpStore:
    """What :class:`runner.Run` calls on its store, answered by a tracking server."""

    def __init__(self, base_url: str, token: str | None, run_id: str,
                 echo: IO[str] | None = None, ca_pem: str | None = None) -> None:
        self.client = HttpClient(base_url, token, ca_pem)
        self.run_id = run_id
        self.sender = Sender(self.client, run_id, echo=echo)
        self._spool: Path | None = None

    # ------------------------------------------------------------ writes (queued)

    def write_metrics(self, run_id: str, drained: list, *, system: bool = False) -> None:
        """Queue a MetricBuffer drain; never blocks on the network."""
        entries, count = _entries(drained)
        size = len(json.dumps(entries))
        self.sender.put(_Op("metrics", entries, size, count))

    def update_run(self, run_id: str, *, only_if_status: tuple[str, ...] | None = None,
                   **fields: Any) -> bool:
        """Queue a change of the run's error, display name or description."""
        data = {k: v for k, v in fields.items()
                if k in ("error", "display_name", "description", "status")}
        if data:
            self.sender.put(_Op("patch", data, len(json.dumps(data))))
        return True

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        data = {"set": {str(k): None if v is None else str(v) for k, v in tags.items()}}
        self.sender.put(_Op("tags", data, len(json.dumps(data))))

    def remove_tags(self, run_id: str, keys: list[str]) -> None:
        data = {"remove": [str(k) for k in keys]}
        self.sender.put(_Op("tags", data, len(json.dumps(data))))

    def add_properties(self, run_id: str, props: dict[str, Any]) -> None:
        data = {str(k): None if v is None else str(v) for k, v in props.items()}
        self.sender.put(_Op("properties", data, len(json.dumps(data))))

    def queue_file(self, name: str, source: str | os.PathLike[str] | IO[Any]) -> None:
        """Copy ``source`` to a local spool now and queue its upload as artifact ``name``."""
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="runner-spool-"))
        spooled = self._spool / uuid.uuid4().hex
        if hasattr(source, "read"):
            with open(spooled, "wb") as out:
                data = source.read()  # type: ignore[union-attr]
                out.write(data.encode() if isinstance(data, str) else data)
        else:
            shutil.copyfile(os.fspath(source), spooled)  # type: ignore[arg-type]
        self.sender.put(_Op("file", {"name": name, "path": str(spooled)}, 256))

    # ------------------------------------------------------------ reads (flush first)

    def _get(self, *parts: str, query: dict[str, Any] | None = None) -> Any:
        self.sender.flush(EXIT_FLUSH_SECONDS)
        path = run_path(self.run_id if not parts else parts[0], *parts[1:])
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        try:
            return self.client.json("GET", path)
        except (TransientError, PermanentError) as exc:
            raise StoreError(
                f"cannot read run {self.run_id} from the tracking server {self.client.base}: "
                f"{exc}; check that `runner server` is running and reachable from here.",
                run_id=self.run_id) from None

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = dict(self._get(run_id)["run"])
        row["owner_pid"] = None  # the owner runs on another machine: not ours to judge
        return row

    def tags(self, run_id: str) -> dict[str, str | None]:
        return self._get(run_id)["tags"]

    def properties(self, run_id: str) -> dict[str, str | None]:
        return self._get(run_id)["properties"]

    def artifacts(self, run_id: str) -> list[str]:
        return self._get(run_id, "files")["artifacts"]

    def file_names(self, run_id: str) -> list[str]:
        return self._get(run_id, "files")["files"]

    def read_metrics(self, run_id: str, name: str | None = None, *,
                     system: bool = False) -> dict[str, tuple[str, list[Any]]]:
        data = self._get(run_id, "metrics", query={"raw": 1, "name": name, "system": int(system)})
        return {k: (v[0], v[1]) for k, v in data["raw"].items()}

    def children(self, run_id: str, recursive: bool = False) -> list[dict[str, Any]]:
        """None: a run on a remote target cannot have child runs (``child_run`` refuses)."""
        return []

    def close(self, timeout: float) -> None:
        """Send what is queued for at most ``timeout`` seconds; report what is lost."""
        self.sender.close(timeout)
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)


class _RemoteWorkspace:
    """Stands in for the Workspace of a run that reaches its store over HTTP."""

    def __init__(self, store: HttpStore, folder: Path) -> None:
        self.store = store
        self.root = folder
        self.name = folder.name


class _RemoteExperiment:
    """Stands in for the Experiment of a run that reaches its store over HTTP."""
    def __init__(self, name: str, workspace: _RemoteWorkspace) -> None:
        self.name = name
        self.workspace = workspace


class RemoteRun(Run):
    """The run of a script on another machine, logging through the tracking server.

    Everything a script calls works as in a local run; ``outputs/`` and ``logs/``
    of the working folder are uploaded by the job's wrapper when the script ends,
    other uploads are sent in the background.
    """

    def __init__(self, run_id: str, experiment: str, store: HttpStore, folder: Path) -> None:
        row = {"id": run_id, "experiment": experiment, "type": "script", "parent_id": None}
        super().__init__(_RemoteExperiment(experiment, _RemoteWorkspace(store, folder)),  # type: ignore[arg-type]
                         run_id, _in_run=True, _row=row)
        self._http: HttpStore = store
        self._folder = folder
        atexit.register(self._at_exit)

    @property
    def folder(self) -> Path:
        """The run's working folder on this machine (its ``outputs/`` are uploaded at the end)."""
        return self._folder

    def __repr__(self) -> str:
        return f"<Run {self._id} experiment={self._experiment.name} via {self._http.client.base}>"

    def flush(self, timeout_seconds: float = 300) -> None:
        """Send every value logged so far to the tracking server now (or until the timeout)."""
        self._write_pending()
        self._http.sender.flush(timeout_seconds)

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any],
                    **kwargs: Any) -> None:
        """Store a file in the run under ``name``: copied now, uploaded in the background."""
        artifact = _artifacts.artifact_name(name)
        if not hasattr(path_or_stream, "read"):
            source = Path(path_or_stream)  # type: ignore[arg-type]
            if not source.is_file():
                from ..core.errors import ArtifactError

                raise ArtifactError(f"upload_file({name!r}): no file at {source}.", name=name)
            if self._in_run_samefile(artifact, source) and _synced_at_end(artifact):
                return
        self._http.queue_file(artifact, path_or_stream)

    def _register(self, artifact: str) -> None:
        if not _synced_at_end(artifact):
            self._http.queue_file(artifact, self._folder / artifact)

    def get_file_names(self) -> list[str]:
        """Names of the run's files as the tracking server has them."""
        return self._http.file_names(self._id)

    def child_run(self, name: str | None = None, run_id: str | None = None,
                  outputs: str | None = None) -> Run:
        """Not supported in a run on a remote compute target (its token may write this
        run only); ``get_children()`` is always empty there for the same reason."""
        raise UsageError(
            "child_run() is not supported in a run on a remote compute target (a Ray "
            "cluster): the job may write its own run only. Log into this run (e.g. with a "
            "name prefix per part), or submit separate runs from the submitting machine.",
            run_id=self._id)

    def _on_terminate(self) -> None:
        self._http.close(TERM_FLUSH_SECONDS)

    def _at_exit(self) -> None:
        try:
            self._write_pending()
        except Exception as exc:  # noqa: BLE001 - exiting: counted as dropped, reported below
            self._http.sender.dropped["values"] += sum(
                len(d[2]) + len(d[4] or ()) for d in self._unwritten)
            self._http.sender._last_error, self._unwritten = f"{type(exc).__name__}: {exc}", []
        self._http.close(EXIT_FLUSH_SECONDS)


def _synced_at_end(artifact: str) -> bool:
    return artifact.split("/", 1)[0] in _artifacts.RECORD_FOLDERS


def remote_run(ctx: Any) -> RemoteRun:
    """The run of this process for a context whose ``tracking_uri`` is http(s)."""
    store = HttpStore(ctx.tracking_uri, ctx.tracking_token, ctx.run_id,
                      ca_pem=os.environ.get(CA_VAR) or None)
    return RemoteRun(ctx.run_id, ctx.experiment, store, Path.cwd())
