"""The Ray Jobs API as runner uses it: a small REST client, the job request, the
runtime environment, the package a job carries, and what a job's status means.

Nothing of Ray is imported: the Jobs API is REST on the head's dashboard port.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.errors import EnvironmentSpecError, SnapshotError
from ..core.status import (
    CANCELED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    error_record,
    status_from_exit,
)

#: The Jobs API refuses request bodies over this (the dashboard's client_max_size).
PACKAGE_LIMIT = 100 * 1024 * 1024
#: Ray job status -> run status.
STATUS_MAP = {"PENDING": QUEUED, "RUNNING": RUNNING, "SUCCEEDED": COMPLETED,
              "FAILED": FAILED, "STOPPED": CANCELED}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
ENTRYPOINT = "python -m runner.targets.wrapper"
#: The environment variable carrying the job's spec (:func:`job_spec`) to the wrapper.
SPEC_VAR = "RUNNER_JOB_SPEC"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Parts of the runner package a job never imports (server side, web assets).
_NOT_SHIPPED = ("server", "studio", "cli")


class JobsApiError(Exception):
    """The Jobs API could not be reached (``status`` None) or answered an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JobsClient:
    """The Ray Jobs REST API, with urllib (no ray needed on this side)."""

    def __init__(self, address: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.address = address.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | IO[bytes] | None = None, *,
              length: int | None = None, content_type: str | None = None,
              timeout: float | None = None) -> tuple[int, bytes]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        req = urllib.request.Request(self.address + path, data=body, method=method,  # type: ignore[arg-type]
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, ValueError) as exc:
            raise JobsApiError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, raw = self._call(method, path, body,
                                 content_type="application/json" if body else None)
        if status >= 400:
            raise JobsApiError(_message(raw) or f"HTTP {status}", status)
        return json.loads(raw) if raw else None

    def version(self) -> dict[str, Any]:
        """``GET /api/version`` (proves the Jobs API answers)."""
        return self._json("GET", "/api/version")

    def ensure_package(self, name: str, path: Path | Any) -> bool:
        """Upload a zip as ``gcs://name`` unless the cluster has it; True if sent.

        ``path`` may be a function that builds the zip and returns its path: it is
        called only when the cluster lacks the package. The GET first also pins the
        package for a while, as Ray's own client does, so it is not collected between
        the upload and the submission.
        """
        where = f"/api/packages/gcs/{urllib.parse.quote(name)}"
        status, raw = self._call("GET", where)
        if status == 200:
            return False
        if status != 404:
            raise JobsApiError(_message(raw) or f"HTTP {status}", status)
        if callable(path):
            path = path()
        size = path.stat().st_size
        with open(path, "rb") as f:
            status, raw = self._call("PUT", where, f, length=size, timeout=max(self.timeout, 300),
                                     content_type="application/octet-stream")
        if status >= 400:
            raise JobsApiError(_message(raw) or f"HTTP {status}", status)
        return True

    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/jobs/``: returns ``{"job_id", "submission_id"}``."""
        return self._json("POST", "/api/jobs/", request)

    def info(self, submission_id: str) -> dict[str, Any] | None:
        """The job's details (``status``, ``message``, ``driver_exit_code``...), None if unknown."""
        try:
            return self._json("GET", f"/api/jobs/{urllib.parse.quote(submission_id)}")
        except JobsApiError as exc:
            if exc.status == 404:
                return None
            raise

    def logs(self, submission_id: str) -> str | None:
        """The job's whole driver log so far, None if the job is unknown."""
        try:
            data = self._json("GET", f"/api/jobs/{urllib.parse.quote(submission_id)}/logs")
        except JobsApiError as exc:
            if exc.status == 404:
                return None
            raise
        return (data or {}).get("logs") or ""

    def open_log(self, submission_id: str, node_id: str, *, follow: bool) -> IO[bytes]:
        """The driver log as a byte stream from its start (State API): the whole file,
        or, with ``follow``, the file and then what it gains, until closed.

        Raises:
            JobsApiError: the head does not answer or refuses.
        """
        query = urllib.parse.urlencode({"submission_id": submission_id, "node_id": node_id,
                                        "lines": -1, **({"interval": 0.5} if follow else {})})
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(
            f"{self.address}/api/v0/logs/{'stream' if follow else 'file'}?{query}",
            headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise JobsApiError(_message(exc.read()) or f"HTTP {exc.code}", exc.code) from None
        except (OSError, ValueError) as exc:
            raise JobsApiError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM to its process group, SIGKILL later)."""
        data = self._json("POST", f"/api/jobs/{urllib.parse.quote(submission_id)}/stop")
        return bool((data or {}).get("stopped"))


def _message(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            text = str(data.get("message") or data.get("msg") or data.get("error") or text)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


# --------------------------------------------------------------------------- decisions


def runtime_env_for(env: dict[str, Any] | None, installer: str) -> dict[str, Any]:
    """The ``runtime_env`` part that installs a canonical environment on the cluster.

    None or user-managed: the cluster's Python as it is (no entries). Managed: its
    pip packages through Ray's ``pip`` (or ``uv``) plugin, in a virtualenv on top of
    the cluster's Python.

    Raises:
        EnvironmentSpecError: conda, or pip options that name local files.
    """
    if env is None or env["python"]["user_managed_dependencies"]:
        return {}
    py = env["python"]
    name = env.get("name")
    if py["use_conda"] or py["conda_packages"]:
        raise EnvironmentSpecError(
            f"environment {name!r} needs conda, which the Ray target does not build; list "
            "the packages as pip packages, or use a user-managed environment that the "
            "cluster already has.")
    options: list[str] = []
    for option in py["pip_options"]:
        pieces = shlex.split(option)
        if pieces and pieces[0] in ("-r", "-c", "-e", "--requirement", "--constraint",
                                    "--editable"):
            raise EnvironmentSpecError(
                f"environment {name!r} has the pip option {option!r}, which names a file on "
                "this machine; the cluster cannot read it. List the packages instead.")
        options.extend(pieces)
    if not py["pip"]:
        return {}
    if installer == "uv":
        return {"uv": {"packages": list(py["pip"]), "uv_pip_install_options": options}}
    spec: dict[str, Any] = {"packages": list(py["pip"]), "pip_check": False}
    if options:
        spec["pip_install_options"] = options
    return {"pip": spec}


#: CPUs a run's driver asks for when neither the run nor the target says: with 0, Ray
#: neither queues the job nor accounts for it, and pins the driver to the head node.
DEFAULT_NUM_CPUS = 1


def entrypoint_resources(resources: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The ``entrypoint_*`` fields of a run: the run's ``resources`` (``cpu``, ``gpu``,
    ``memory``) over the target's defaults, 1 CPU when neither says, plus the target's
    custom resources and node labels (pure: no I/O)."""
    out: dict[str, Any] = {}
    for key, field in (("cpu", "num_cpus"), ("gpu", "num_gpus"), ("memory", "memory")):
        value = resources.get(key)
        if value is None:
            value = settings.get(field)
        if value is None and key == "cpu":
            value = DEFAULT_NUM_CPUS
        if value is not None and (value or key == "cpu"):
            out[f"entrypoint_{field}"] = int(value) if key == "memory" else value
    if settings.get("resources"):
        out["entrypoint_resources"] = {str(k): float(v) for k, v in settings["resources"].items()}
    if settings.get("labels"):
        out["entrypoint_label_selector"] = {str(k): str(v) for k, v in settings["labels"].items()}
    return out


def job_request(*, run_id: str, experiment: str, package_uri: str, runtime_uri: str,
                runtime_env: dict[str, Any], env_vars: dict[str, str],
                resources: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/jobs/`` for one run (pure: no I/O)."""
    from ..core.version import __version__

    request: dict[str, Any] = {
        "entrypoint": ENTRYPOINT,
        "submission_id": run_id,
        "runtime_env": {**runtime_env, "working_dir": package_uri, "py_modules": [runtime_uri],
                        "env_vars": {str(k): str(v) for k, v in env_vars.items()}},
        "metadata": {"runner_run_id": run_id, "runner_experiment": experiment,
                     "runner_version": __version__},
    }
    request.update(entrypoint_resources(resources, settings))
    return request


def status_from_job(info: dict[str, Any], *, canceled: bool = False,
                    timeout_seconds: float | None = None,
                    script_error: dict[str, Any] | None = None,
                    log_tail: str | None = None) -> tuple[str, dict[str, Any] | None]:
    """Decide a Ray run's terminal status and error from the job's details.

    Args:
        info: ``GET /api/jobs/{id}`` of a job in a terminal state.
        canceled: the runner asked Ray to stop the job.
        timeout_seconds: set when ``max_run_duration_seconds`` stopped it.
        script_error: the error the script's wrapper recorded (uncaught exception).
        log_tail: the last lines of the driver log.
    """
    status = info.get("status")
    code = info.get("driver_exit_code")
    if timeout_seconds is not None or (canceled and status != "SUCCEEDED"):
        return status_from_exit(code, canceled=True, timeout_seconds=timeout_seconds)
    if status == "SUCCEEDED":
        return COMPLETED, None
    if status == "STOPPED":
        return CANCELED, error_record(
            "The Ray job was stopped outside runner (ray job stop, the dashboard or the "
            "cluster).", code="Canceled", exitCode=code)
    if script_error:
        inner = dict(script_error.get("error", script_error))
        inner.setdefault("exitCode", code)
        return FAILED, {"error": inner}
    message = (info.get("message") or "").strip().splitlines()
    first = message[0] if message else "no message from Ray"
    if code is None:
        return FAILED, error_record(
            f"The Ray job failed before the script ran: {first}", code="SystemError",
            details=log_tail or "\n".join(message[-12:]) or None)
    return FAILED, error_record(f"User program failed with exit code {code}.",
                                details=log_tail, exitCode=code)


# --------------------------------------------------------------------------- packages
#
# Two packages per job, both named by what they hold, so that Ray's own
# ``gcs://_ray_pkg_<hash>.zip`` cache serves an unchanged one without an upload:
#
# * the snapshot (``working_dir``): the snapshot's files only, named from the
#   snapshot id (itself a hash of the contents), so the name is known before the
#   zip is built and a cluster that has it gets neither a build nor an upload;
# * the runner's in-run code (``py_modules``): ``runner/`` without its server
#   parts (its ``compat/azureml`` included), plus ``runner_job/boot.py`` (the boot
#   file local runs use), named by the hash of those bytes. Ray puts it on the ``PYTHONPATH``
#   of the driver *and* of every task and actor the script starts, so
#   ``Run.get_context()`` works in tasks on nodes that have no runner installed.
#
# Nothing per-run is inside either: the job's spec travels in an environment
# variable, and the wrapper copies the (shared, read-only) extraction folder to a
# folder of the run's own before the script starts.

#: Bumped whenever the layout of the snapshot zip changes.
SNAPSHOT_FORMAT = "runner-snapshot-zip-1"
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    """A working_dir or py_modules zip: ``gcs://<name>`` once uploaded (``path`` if built)."""

    name: str
    path: Path | None
    size: int

    @property
    def uri(self) -> str:
        return f"gcs://{self.name}"


def _shipped_files() -> list[tuple[str, Path]]:
    files = []
    for path in sorted(_PACKAGE_ROOT.rglob("*")):
        rel = path.relative_to(_PACKAGE_ROOT)
        if rel.parts[0] in _NOT_SHIPPED or "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.suffix in (".py", ".yml") or path.name == "py.typed":
            files.append((rel.as_posix(), path))
    return files


def shipped_bytes() -> int:
    """Bytes of the runner package files a job's ``py_modules`` carries."""
    return sum(p.stat().st_size for _, p in _shipped_files())


def _entry(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = mode << 16
    return info


def runtime_members() -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of the in-run package, in a fixed order."""
    from ..execution import shim as _shim

    members = [(f"runner/{rel}", source.read_bytes()) for rel, source in _shipped_files()]
    # The azureml compatibility modules are part of runner (runner/compat/azureml).
    members += [("runner_job/__init__.py", b""), ("runner_job/boot.py", _shim.BOOT.encode())]
    return members


def runtime_package(dest_dir: Path) -> Package:
    """Build the in-run package (deterministic bytes) under ``dest_dir``, named by its hash."""
    members = runtime_members()
    digest = hashlib.sha256()
    for name, data in members:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    name = f"_ray_pkg_{digest.hexdigest()[:32]}.zip"
    dest = dest_dir / name
    if not dest.exists():
        dest_dir.mkdir(parents=True, exist_ok=True)
        part = dest_dir / f".{name}.{os.getpid()}.part"
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
            for member, data in members:
                z.writestr(_entry(member), data)
        os.replace(part, dest)
    return Package(name, dest, dest.stat().st_size)


def snapshot_package_name(snapshot_id: str | None) -> str:
    """The ``gcs://`` name of a snapshot's zip: a function of the snapshot id only."""
    key = f"{SNAPSHOT_FORMAT}\0{snapshot_id or 'empty'}".encode()
    return f"_ray_pkg_{hashlib.sha256(key).hexdigest()[:32]}.zip"


def build_snapshot_package(paths: Any, snapshot_id: str | None, dest: Path) -> Package:
    """Zip the snapshot's files into ``dest``: same snapshot, same bytes.

    Stored uncompressed, as Ray's own client does (the 100 MiB limit counts raw bytes).

    Raises:
        SnapshotError: the zip is over the Jobs API's upload limit.
    """
    from ..snapshot.snapshots import load_manifest

    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED, strict_timestamps=False) as z:
        if snapshot_id:
            files = paths.snapshot_dir(snapshot_id) / "files"
            for entry in sorted(load_manifest(paths, snapshot_id)["entries"],
                                key=lambda e: e["path"]):
                rel, kind = entry["path"], entry["kind"]
                if kind == "dir":
                    z.writestr(_entry(rel.rstrip("/") + "/", 0o755), b"")
                    continue
                source = files / rel
                if kind == "link":  # zip has no links Ray restores: store what it points at
                    real = Path(os.path.realpath(source))
                    if not real.is_file() or not str(real).startswith(str(files.resolve())):
                        continue
                    source = real
                with open(source, "rb") as src, \
                        z.open(_entry(rel, 0o755 if entry.get("exec") else 0o644), "w") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        else:
            z.writestr(_entry(".runner_empty"), b"")
    size = dest.stat().st_size
    if size > PACKAGE_LIMIT:
        dest.unlink(missing_ok=True)
        raise SnapshotError(
            f"the job's working_dir zip is {size / 2**20:.1f} MiB, over the Ray Jobs API's "
            f"upload limit of {PACKAGE_LIMIT // 2**20} MiB; leave data out of the source "
            "folder (.amlignore).", snapshot_id=snapshot_id)
    return Package(snapshot_package_name(snapshot_id), dest, size)


def job_spec(definition: dict[str, Any], env: dict[str, Any] | None,
             settings: dict[str, Any]) -> dict[str, Any]:
    """What the job's wrapper needs to start the script (travels as ``RUNNER_JOB_SPEC``)."""
    import sys

    interpreter = "python"
    if env is not None and env["python"]["user_managed_dependencies"]:
        interpreter = env["python"]["interpreter_path"] or "python"
        # This machine's own Python (``interpreter_path=sys.executable``, as scripts
        # written for local runs say) is a path the nodes need not have: it means "the
        # Python runner runs with", which on a cluster is the job's Python.
        if os.path.realpath(interpreter) == os.path.realpath(sys.executable):
            interpreter = "python"
    if settings.get("interpreter"):
        interpreter = settings["interpreter"]
    return {"script": definition.get("script"),
            "arguments": definition.get("arguments") or [],
            "command": definition.get("command"),
            "interpreter": interpreter,
            "python_version": env["python"]["version"] if env else None,
            "upload_seconds": settings.get("upload_seconds"),
            "grace_seconds": settings.get("grace_seconds"),
            "sync_seconds": settings.get("sync_seconds")}
