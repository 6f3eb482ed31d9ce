"""The Ray cluster compute target: a run becomes a job of the Ray Jobs API.

Nothing of Ray is imported: the Jobs API is REST on the head's dashboard port,
spoken here with ``urllib``. The mapping (shared/reference/ray-jobs.md, 5(b))::

    run id                  -> submission_id (and RUNNER_RUN_ID in env_vars)
    snapshot                -> working_dir: our own zip, PUT to /api/packages/gcs/...,
                               with a per-run marker (.runner_run_id) so that two runs
                               never share an extraction folder; the runner package,
                               the boot file and the wrapper ride along in .runner_pkg/
    managed environment     -> runtime_env pip (or uv) packages; conda is refused
    variables, tracking URI -> runtime_env env_vars
    run_config.resources    -> entrypoint_num_cpus / _gpus / _memory
    script + arguments      -> entrypoint `python .runner_pkg/runner_wrapper.py`, which
                               runs the script and uploads outputs/ and logs/ at its end
    PENDING/RUNNING/SUCCEEDED/FAILED/STOPPED -> Queued/Running/Completed/Failed/Canceled

This module holds the target object (:class:`RayCluster`), the REST client
(:class:`JobsClient`), the pure decisions (:func:`runtime_env_for`,
:func:`job_request`, :func:`status_from_job`) and the package builder; the
process that owns a Ray run is :mod:`runner._targets._ray_owner`.
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

from .._exceptions import ConfigError, EnvironmentSpecError, SnapshotError, UsageError
from .._models import CANCELED, COMPLETED, FAILED, QUEUED, RUNNING, error_record, status_from_exit

#: The Jobs API refuses request bodies over this (the dashboard's client_max_size).
PACKAGE_LIMIT = 100 * 1024 * 1024
#: Ray job status -> run status.
STATUS_MAP = {"PENDING": QUEUED, "RUNNING": RUNNING, "SUCCEEDED": COMPLETED,
              "FAILED": FAILED, "STOPPED": CANCELED}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
PKG_DIR = ".runner_pkg"
MARKER = ".runner_run_id"
ENTRYPOINT = f"python {PKG_DIR}/runner_wrapper.py"
INSTALLERS = ("pip", "uv")
_CONFIG_KEYS = {"type", "address", "tracking_uri", "tracking_token_env", "token_env",
                "num_cpus", "num_gpus", "memory", "installer"}
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Parts of the runner package a job never imports (server side, web assets).
_NOT_SHIPPED = ("_server", "_studio")


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _check_url(url: Any, what: str) -> str:
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")) \
            or not _host(url):
        raise UsageError(f"{what} must be an http(s):// URL like http://head:8265, not {url!r}.")
    return url.rstrip("/")


def _check_amount(value: Any, what: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise UsageError(f"{what} must be a number >= 0, not {value!r}.")
    return value


class RayCluster:
    """A Ray cluster as a compute target, reached through its Jobs API.

    Args:
        address: the head's dashboard URL, e.g. ``http://head:8265``.
        tracking_uri: where the cluster's jobs reach ``runner server`` of this
            workspace; must be reachable from the cluster's nodes (so not a
            loopback address unless the head itself is on loopback).
        tracking_token: the token that server was started with, if any.
        token: a bearer token for the Ray dashboard (``RAY_AUTH_MODE=token``).
        num_cpus: default ``entrypoint_num_cpus`` (0: the job never queues for a CPU).
        num_gpus: default ``entrypoint_num_gpus``.
        memory: default ``entrypoint_memory`` in bytes.
        installer: ``pip`` or ``uv`` (needs uv in the cluster's environment) for
            managed environments.
        name: the name under ``compute_targets`` it came from, if any.

    Raises:
        UsageError: a malformed URL, or a loopback tracking URI for a remote head.
    """

    is_compute_target = True
    kind = "ray"

    def __init__(self, address: str, *, tracking_uri: str | None = None,
                 tracking_token: str | None = None, token: str | None = None,
                 num_cpus: float | None = None, num_gpus: float | None = None,
                 memory: int | None = None, installer: str = "pip",
                 name: str | None = None) -> None:
        self.address = _check_url(address, "RayCluster address")
        self.tracking_uri = None if tracking_uri is None else \
            _check_url(tracking_uri, "RayCluster tracking_uri")
        self.tracking_token = tracking_token or None
        self.token = token or None
        self.num_cpus = _check_amount(num_cpus, "num_cpus")
        self.num_gpus = _check_amount(num_gpus, "num_gpus")
        self.memory = _check_amount(memory, "memory")
        if installer not in INSTALLERS:
            raise UsageError(f"installer must be one of {INSTALLERS}, not {installer!r}.")
        self.installer = installer
        self.name = name
        check_reachability(self.address, self.tracking_uri)

    @classmethod
    def from_config(cls, name: str, entry: dict[str, Any], source: str) -> RayCluster:
        """The target of ``compute_targets.<name>`` in ``config.yaml``.

        Raises:
            ConfigError: an unknown key, or a missing or invalid setting.
        """
        where = f"compute_targets.{name} in {source}"
        unknown = sorted(set(entry) - _CONFIG_KEYS)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(map(repr, unknown))} in {where}; "
                              f"known: {', '.join(sorted(_CONFIG_KEYS))}.",
                              key=f"compute_targets.{name}", path=source)
        if "address" not in entry:
            raise ConfigError(f"{where} needs an 'address' (the Ray dashboard, e.g. "
                              "http://head:8265).", key=f"compute_targets.{name}.address",
                              path=source)
        secrets = {}
        for key, arg in (("tracking_token_env", "tracking_token"), ("token_env", "token")):
            var = entry.get(key)
            if var is None:
                continue
            if not isinstance(var, str) or not var:
                raise ConfigError(f"{key} in {where} must name an environment variable.",
                                  key=f"compute_targets.{name}.{key}", path=source)
            secrets[arg] = _EnvSecret(var)
        try:
            return cls(entry["address"], tracking_uri=entry.get("tracking_uri"),
                       num_cpus=entry.get("num_cpus"), num_gpus=entry.get("num_gpus"),
                       memory=entry.get("memory"), installer=entry.get("installer", "pip"),
                       name=name, **secrets)  # type: ignore[arg-type]
        except UsageError as exc:
            raise ConfigError(f"{where}: {exc.message}", key=f"compute_targets.{name}",
                              path=source) from None

    @property
    def label(self) -> str:
        """How the run record names the target: the configured name, else ``ray:<address>``."""
        return self.name or f"ray:{self.address}"

    def __repr__(self) -> str:
        return f"RayCluster({self.address!r}, tracking_uri={self.tracking_uri!r})"

    def settings(self) -> dict[str, Any]:
        """Everything the run's owner needs, secrets in clear (kept out of the record)."""
        return {"kind": self.kind, "label": self.label, "address": self.address,
                "tracking_uri": self.tracking_uri, "tracking_token": _reveal(self.tracking_token),
                "token": _reveal(self.token), "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus, "memory": self.memory, "installer": self.installer}

    # ------------------------------------------------------------ submit-time checks

    def check_submission(self, resolved: Any, ws: Any) -> None:
        """Everything that can be checked before the run is written.

        Raises:
            UsageError: no tracking URI; the head or the tracking server does not
                answer, or the server serves another workspace.
            EnvironmentSpecError: an environment the cluster cannot build.
        """
        if self.tracking_uri is None:
            raise UsageError(
                f"compute target {self.label} has no tracking_uri: its jobs log to a "
                "`runner server` of this workspace. Start one (runner server --host ... "
                "--token ...) and set tracking_uri to an address the cluster's nodes reach.",
                target=self.label)
        if resolved.environment is not None:
            from .._envs import canonical

            runtime_env_for(canonical(resolved.environment), self.installer)
        try:
            JobsClient(self.address, _reveal(self.token), timeout=10).version()
        except JobsApiError as exc:
            raise UsageError(f"the Ray cluster at {self.address} does not answer its Jobs API "
                             f"({exc}); start it or fix the address of {self.label}.",
                             target=self.label) from None
        check_tracking_server(self.tracking_uri, _reveal(self.tracking_token), ws.root)

    def check_snapshot(self, snapshot: Any) -> None:
        """Refuse a snapshot the Jobs API would refuse (100 MiB per upload).

        Raises:
            SnapshotError: the snapshot plus the shipped runner package is too big.
        """
        total = snapshot.bytes + shipped_bytes() + 256 * 1024
        if total > PACKAGE_LIMIT:
            raise SnapshotError(
                f"the snapshot is {snapshot.bytes / 2**20:.1f} MiB; with the runner package "
                f"the job's working_dir would be {total / 2**20:.1f} MiB, over the Ray Jobs "
                f"API's upload limit of {PACKAGE_LIMIT // 2**20} MiB. Leave data out of the "
                "source folder (.amlignore) and read it from shared storage in the script.",
                snapshot_id=snapshot.id)

    def start(self, ws: Any, run_id: str, private: dict[str, Any], mode: str) -> int:
        """Start the owner process of run ``run_id``; returns its pid."""
        from ._ray_owner import start_owner

        return start_owner(ws, run_id, {**private, "target": self.settings()}, mode)


class _EnvSecret:
    """A secret named by an environment variable, read when first needed."""

    def __init__(self, var: str) -> None:
        self.var = var

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<secret from ${self.var}>"


def _reveal(secret: Any) -> str | None:
    if isinstance(secret, _EnvSecret):
        value = os.environ.get(secret.var)
        if not value:
            raise UsageError(f"the environment variable {secret.var} named in config.yaml "
                             "holds no token; set it before submitting.", variable=secret.var)
        return value
    return secret


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is loopback (``localhost``, 127.0.0.0/8, ``::1``)."""
    from .._listen import is_loopback

    return is_loopback(_host(url))


def check_reachability(address: str, tracking_uri: str | None) -> None:
    """A loopback tracking URI only works when the Ray head is on this machine too.

    Raises:
        UsageError: the head is remote and the tracking URI is a loopback address.
    """
    if tracking_uri and not is_loopback_url(address) and is_loopback_url(tracking_uri):
        raise UsageError(
            f"tracking_uri {tracking_uri} is a loopback address, but the Ray head "
            f"{address} is not on this machine: its jobs would talk to their own node. "
            "Serve the workspace on an address the cluster's nodes reach (runner server "
            "--host 0.0.0.0 --token ...) and use that address.",
            address=address, tracking_uri=tracking_uri)


def check_tracking_server(uri: str, token: str | None, root: Any) -> None:
    """The tracking server answers and serves the workspace at ``root``.

    Raises:
        UsageError: it does not answer, refuses the token, or serves another workspace.
    """
    from .._http_store import HttpClient, PermanentError, TransientError

    try:
        health = HttpClient(uri, token).json("GET", "/api/v1/health", timeout=5)
    except PermanentError as exc:
        hint = " (wrong or missing tracking_token?)" if exc.status == 401 else ""
        raise UsageError(f"the tracking server at {uri} refused us{hint}: {exc}.",
                         tracking_uri=uri) from None
    except TransientError as exc:
        raise UsageError(f"the tracking server at {uri} does not answer ({exc}); start it with "
                         "`runner server` in this workspace.", tracking_uri=uri) from None
    served = (health or {}).get("workspace")
    if served and os.path.realpath(served) != os.path.realpath(str(root)):
        raise UsageError(f"the tracking server at {uri} serves the workspace {served}, not "
                         f"{root}; start `runner server` in this workspace.", tracking_uri=uri)


# --------------------------------------------------------------------------- REST client


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

    def ensure_package(self, name: str, path: Path) -> bool:
        """Upload a working_dir zip as ``gcs://name`` unless the cluster has it; True if sent.

        The GET first also pins the package for a while, as Ray's own client does,
        so it is not collected between the upload and the submission.
        """
        where = f"/api/packages/gcs/{urllib.parse.quote(name)}"
        status, raw = self._call("GET", where)
        if status == 200:
            return False
        if status != 404:
            raise JobsApiError(_message(raw) or f"HTTP {status}", status)
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


def job_request(*, run_id: str, experiment: str, package_uri: str,
                runtime_env: dict[str, Any], env_vars: dict[str, str],
                resources: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/jobs/`` for one run (pure: no I/O)."""
    from .. import __version__

    request: dict[str, Any] = {
        "entrypoint": ENTRYPOINT,
        "submission_id": run_id,
        "runtime_env": {**runtime_env, "working_dir": package_uri,
                        "env_vars": {str(k): str(v) for k, v in env_vars.items()}},
        "metadata": {"runner_run_id": run_id, "runner_experiment": experiment,
                     "runner_version": __version__},
    }
    for key, field in (("cpu", "num_cpus"), ("gpu", "num_gpus"), ("memory", "memory")):
        value = resources.get(key, settings.get(field))
        if value is not None:
            request[f"entrypoint_{field}" if field != "memory" else "entrypoint_memory"] = \
                int(value) if key == "memory" else value
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


@dataclass(frozen=True)
class Package:
    """A built working_dir zip: ``gcs://<name>`` once uploaded."""

    name: str
    path: Path
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
    """Bytes of the runner package files a job's working_dir carries."""
    return sum(p.stat().st_size for _, p in _shipped_files())


def build_package(paths: Any, snapshot_id: str | None, run_id: str, job: dict[str, Any],
                  dest: Path) -> Package:
    """Zip the snapshot, the per-run marker and ``.runner_pkg/`` into ``dest``.

    Stored uncompressed, as Ray's own client does (the 100 MiB limit counts raw bytes).

    Raises:
        SnapshotError: the zip is over the Jobs API's upload limit.
    """
    from .. import _shim
    from .._snapshot import load_manifest

    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED, strict_timestamps=False) as z:
        if snapshot_id:
            files = paths.snapshot_dir(snapshot_id) / "files"
            for entry in load_manifest(paths, snapshot_id)["entries"]:
                rel, kind = entry["path"], entry["kind"]
                if kind == "dir":
                    z.writestr(rel.rstrip("/") + "/", b"")
                    continue
                source = files / rel
                if kind == "link":  # zip has no links Ray restores: store what it points at
                    real = Path(os.path.realpath(source))
                    if not real.is_file() or not str(real).startswith(str(files.resolve())):
                        continue
                    source = real
                info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if entry.get("exec") else 0o644) << 16
                with open(source, "rb") as src, z.open(info, "w") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        z.writestr(MARKER, run_id)
        for rel, source in _shipped_files():
            z.write(source, f"{PKG_DIR}/runner/{rel}")
        z.writestr(f"{PKG_DIR}/runner_boot.py", _shim.BOOT)
        z.writestr(f"{PKG_DIR}/runner_wrapper.py",
                   (Path(__file__).parent / "_wrapper.py").read_text(encoding="utf-8"))
        z.writestr(f"{PKG_DIR}/job.json", json.dumps(job))
        compat = f"{PKG_DIR}/compat/azureml"
        z.writestr(f"{compat}/__init__.py", _shim._COMPAT_INIT)
        z.writestr(f"{compat}/core/__init__.py", _shim._COMPAT_CORE)
        z.writestr(f"{compat}/core/run.py", _shim._COMPAT_RUN)
        z.writestr(f"{compat}/exceptions.py", _shim._COMPAT_EXC)
    size = dest.stat().st_size
    if size > PACKAGE_LIMIT:
        raise SnapshotError(
            f"the job's working_dir zip is {size / 2**20:.1f} MiB, over the Ray Jobs API's "
            f"upload limit of {PACKAGE_LIMIT // 2**20} MiB; leave data out of the source "
            "folder (.amlignore).", snapshot_id=snapshot_id)
    digest = hashlib.sha256()
    with open(dest, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return Package(f"_ray_pkg_{digest.hexdigest()[:32]}.zip", dest, size)
