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
process that owns a Ray run is :mod:`runner.targets.ray_owner`.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..core.errors import ConfigError, SnapshotError, UsageError
from .ray_jobs import PACKAGE_LIMIT, JobsApiError, JobsClient, runtime_env_for

INSTALLERS = ("pip", "uv")
_CONFIG_KEYS = {"type", "address", "tracking_uri", "tracking_token_env", "token_env",
                "num_cpus", "num_gpus", "memory", "installer", "resources", "labels",
                "interpreter", "tracking_ca", "upload_seconds", "grace_seconds",
                "sync_seconds"}
#: Seconds the job keeps retrying its unsent records and outputs after the script ends.
UPLOAD_SECONDS = 600.0
#: Seconds between Ray's SIGTERM and its SIGKILL of a stopped job, for the last uploads.
GRACE_SECONDS = 10.0
#: Seconds between uploads of what changed in outputs/ and logs/ while a script runs.
SYNC_SECONDS = 10.0



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
        num_cpus: default ``entrypoint_num_cpus`` of a run that does not say
            (``run_config.resources["cpu"]``); when neither says, 1, so that the job
            queues for a CPU and Ray may place it on any node.
        num_gpus: default ``entrypoint_num_gpus`` (``resources["gpu"]`` of a run wins).
        memory: default ``entrypoint_memory`` in bytes.
        resources: custom Ray resources every run's driver asks for, e.g.
            ``{"worker": 1}`` to keep runs off a head started without that resource.
        labels: a node label selector (``entrypoint_label_selector``), e.g.
            ``{"ray.io/node-group": "gpu-workers"}``.
        interpreter: the Python *on the cluster* that runs scripts whose environment
            names none (default: the job's Python).
        tracking_ca: a PEM file of the CA that signed an ``https://`` tracking server's
            certificate (a self-signed one, say); its contents travel with the job.
        upload_seconds: how long the job keeps retrying its unsent records and files
            after the script ended (a tracking server that is down or restarting).
        grace_seconds: seconds between Ray's SIGTERM and SIGKILL of a canceled or timed
            out job (Ray's ``RAY_JOB_STOP_WAIT_TIME_S``), for the last uploads.
        sync_seconds: how often the job uploads what changed in ``outputs/`` and
            ``logs/`` while the script runs.
        installer: ``pip`` or ``uv`` (needs uv in the cluster's environment) for
            managed environments.
        name: the name under ``compute_targets`` it came from, if any.

    Raises:
        UsageError: a malformed URL or setting, or a loopback tracking URI for a
            remote head.
    """

    is_compute_target = True
    kind = "ray"

    def __init__(self, address: str, *, tracking_uri: str | None = None,
                 tracking_token: str | None = None, token: str | None = None,
                 num_cpus: float | None = None, num_gpus: float | None = None,
                 memory: int | None = None, resources: dict[str, float] | None = None,
                 labels: dict[str, str] | None = None, interpreter: str | None = None,
                 tracking_ca: str | None = None, upload_seconds: float = UPLOAD_SECONDS,
                 grace_seconds: float = GRACE_SECONDS, sync_seconds: float = SYNC_SECONDS,
                 installer: str = "pip",
                 name: str | None = None) -> None:
        self.address = _check_url(address, "RayCluster address")
        self.tracking_uri = None if tracking_uri is None else \
            _check_url(tracking_uri, "RayCluster tracking_uri")
        self.tracking_token = tracking_token or None
        self.token = token or None
        self.num_cpus = _check_amount(num_cpus, "num_cpus")
        self.num_gpus = _check_amount(num_gpus, "num_gpus")
        self.memory = _check_amount(memory, "memory")
        self.resources = _check_mapping(resources, "resources", numbers=True)
        self.labels = _check_mapping(labels, "labels", numbers=False)
        if interpreter is not None and (not isinstance(interpreter, str) or not interpreter):
            raise UsageError(f"interpreter must name a Python on the cluster, not {interpreter!r}.")
        self.interpreter = interpreter
        self.tracking_ca = _read_ca(tracking_ca)
        self.upload_seconds = _check_amount(upload_seconds, "upload_seconds")
        self.grace_seconds = _check_amount(grace_seconds, "grace_seconds")
        self.sync_seconds = _check_amount(sync_seconds, "sync_seconds")
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
                       memory=entry.get("memory"), resources=entry.get("resources"),
                       labels=entry.get("labels"), interpreter=entry.get("interpreter"),
                       tracking_ca=entry.get("tracking_ca"),
                       upload_seconds=entry.get("upload_seconds", UPLOAD_SECONDS),
                       grace_seconds=entry.get("grace_seconds", GRACE_SECONDS),
                       sync_seconds=entry.get("sync_seconds", SYNC_SECONDS),
                       installer=entry.get("installer", "pip"), name=name, **secrets)  # type: ignore[arg-type]
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
                "num_gpus": self.num_gpus, "memory": self.memory, "resources": self.resources,
                "labels": self.labels, "interpreter": self.interpreter,
                "tracking_ca": self.tracking_ca, "upload_seconds": self.upload_seconds,
                "grace_seconds": self.grace_seconds, "sync_seconds": self.sync_seconds,
                "installer": self.installer}

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
            from ..envs.prepare import canonical

            runtime_env_for(canonical(resolved.environment), self.installer)
        try:
            JobsClient(self.address, _reveal(self.token), timeout=10).version()
        except JobsApiError as exc:
            raise UsageError(f"the Ray cluster at {self.address} does not answer its Jobs API "
                             f"({exc}); start it or fix the address of {self.label}.",
                             target=self.label) from None
        check_tracking_server(self.tracking_uri, _reveal(self.tracking_token), ws.root,
                              ca_pem=self.tracking_ca)

    def check_snapshot(self, snapshot: Any) -> None:
        """Refuse a snapshot the Jobs API would refuse (100 MiB per upload).

        Raises:
            SnapshotError: the snapshot's zip would be too big.
        """
        total = snapshot.bytes + 64 * 1024  # + the zip's own headers, generously
        if total > PACKAGE_LIMIT:
            raise SnapshotError(
                f"the snapshot is {snapshot.bytes / 2**20:.1f} MiB; "
                f"the job's working_dir would be {total / 2**20:.1f} MiB, over the Ray Jobs "
                f"API's upload limit of {PACKAGE_LIMIT // 2**20} MiB. Leave data out of the "
                "source folder (.amlignore) and read it from shared storage in the script.",
                snapshot_id=snapshot.id)

    def check_source(self, source: Any) -> None:
        """:meth:`check_snapshot` on the files the snapshot would take, before it is taken,
        so that a refused source leaves no copy in the snapshot store.

        Raises:
            SnapshotError: the source's files are too big for the Jobs API.
        """
        from types import SimpleNamespace

        from ..snapshot.snapshots import select_files

        self.check_snapshot(SimpleNamespace(bytes=select_files(source).total_bytes, id=None))

    def start(self, ws: Any, run_id: str, private: dict[str, Any], mode: str) -> int:
        """Start the owner process of run ``run_id``; returns its pid."""
        from .ray_owner import start_owner

        return start_owner(ws, run_id, {**private, "target": self.settings()}, mode)


def _check_mapping(value: Any, what: str, *, numbers: bool) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise UsageError(f"{what} must be a mapping of names to "
                         f"{'numbers' if numbers else 'strings'}, not {value!r}.")
    for key, item in value.items():
        if numbers:
            _check_amount(item, f"{what}[{key!r}]")
        elif not isinstance(item, str):
            raise UsageError(f"{what}[{key!r}] must be a string, not {item!r}.")
    return dict(value)


def _read_ca(path: Any) -> str | None:
    """The PEM text of a CA file, read now (it travels with each job)."""
    if path is None:
        return None
    try:
        text = open(os.fspath(path), encoding="ascii").read()
    except (OSError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(f"tracking_ca {path!r} cannot be read as a PEM file: {exc}; give the "
                         "path of the certificate (or its CA) that the tracking server uses.",
                         path=str(path)) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"tracking_ca {path!r} holds no PEM certificate (no BEGIN "
                         "CERTIFICATE line).", path=str(path))
    return text


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
    from ..core.net import is_loopback

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


def check_tracking_server(uri: str, token: str | None, root: Any,
                          ca_pem: str | None = None) -> None:
    """The tracking server answers and serves the workspace at ``root``.

    Raises:
        UsageError: it does not answer, refuses the token, or serves another workspace.
    """
    from ..api.remote_http import HttpClient, PermanentError, TransientError

    try:
        health = HttpClient(uri, token, ca_pem).json("GET", "/api/v1/health", timeout=5)
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
