"""``.runner/config.yaml``: the workspace's settings, documented and validated.

Unknown keys and wrong types are errors that name the key and the file, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from . import hooks
from .config import LOCAL

#: Written by ``runner init``; every setting with its default and meaning.
TEMPLATE = """\
# runner workspace settings. Every key is optional; shown values are the defaults.

# Runs allowed to prepare or run at once; more submissions wait as Queued.
# (default: the number of CPUs)
# max_concurrent_runs: 4

# Snapshot limits for a submitted source directory (like Azure ML's).
# snapshot_max_bytes: 314572800     # 300 MiB
# snapshot_max_files: 2000

# Seconds between SIGTERM and SIGKILL when a run is canceled or times out.
# cancel_grace_seconds: 10

# Seconds between samples of a run's CPU and memory (the first is taken at once).
# sample_interval_seconds: 10

# How the supervisor of a submitted run starts: "fork" (fast, POSIX) or "exec"
# (a fresh `python -m runner.execution.supervisor RUN_ID` process).
# supervisor_start: fork

# A run's working copy of its snapshot: "copy" (every file the run's own) or "link"
# (hard links to the read-only stored files where the kernel enforces their mode:
# one link() per file instead of a copy, much faster for big trees, but a script
# can then not open a snapshot file for writing in place; replacing it works).
# working_copy: copy

# With working_copy: copy, a run's copy that is provably untouched at its end (no
# file written, chmod-ed, renamed, added or linked) is kept for the next run of the
# same snapshot, which then starts with a few renames instead of a copy. At most
# this many such copies and bytes are kept (most recently used); 0 keeps none.
# working_copy_pool_entries: 4
# working_copy_pool_bytes: 1073741824

# GPU ids runs may be given (`runner submit --gpus N`, resources={"gpu": N}). When
# unset they are found with NVML (pip install "runner[gpu]") or nvidia-smi.
# gpus: [0, 1, 2, 3]

# Compute targets other than this machine, by name: submit with
# ScriptRunConfig(..., compute_target="ray") or `runner submit --target ray`.
# A Ray cluster is reached through its Jobs API (the dashboard address); its jobs log
# to a `runner server` of this workspace at tracking_uri, reachable from its nodes.
# compute_targets:
#   ray:
#     type: ray
#     address: http://127.0.0.1:8265
#     tracking_uri: https://me.example:8766    # `runner server`; not loopback for a remote head
#     tracking_token_env: RUNNER_SERVER_TOKEN_FOR_RAY   # env var holding `runner server --token`
#                                              # (jobs get a per-run token derived from it)
#     tracking_ca: server-cert.pem             # CA of a self-signed server certificate
#     token_env: RAY_AUTH_TOKEN                # env var holding the Ray token, if it needs one
#     num_cpus: 1                              # per run, unless run_config.resources says (1)
#     num_gpus: 0                              # per run, unless resources["gpu"] says
#     memory: 2147483648                       # bytes
#     resources: {worker: 1}                   # custom Ray resources, to keep runs off the head
#     labels: {ray.io/node-group: gpu}         # node label selector for the driver
#     interpreter: /opt/venv/bin/python        # the cluster's Python (default: the job's)
#     upload_seconds: 600                      # retry unsent records this long after the end
#     grace_seconds: 10                        # SIGTERM -> SIGKILL of a stopped job
#     sync_seconds: 10                         # upload changed outputs/ this often
#     installer: pip                           # pip or uv: managed environments on the cluster
"""


@dataclass
class WorkspaceConfig:
    """The settings of one workspace (see ``TEMPLATE`` for their meaning)."""

    max_concurrent_runs: int = field(default_factory=lambda: os.cpu_count() or 1)
    snapshot_max_bytes: int = 300 * 1024 * 1024
    snapshot_max_files: int = 2000
    cancel_grace_seconds: float = 10.0
    sample_interval_seconds: float = 10.0
    supervisor_start: str = "fork" if hasattr(os, "fork") else "exec"
    working_copy: str = "copy"
    working_copy_pool_entries: int = 4
    working_copy_pool_bytes: int = 1024**3
    #: name -> a validated target (``runner.targets``); see ``compute_targets`` above.
    compute_targets: dict[str, Any] = field(default_factory=dict)
    #: GPU ids of this machine, overriding discovery (``runner.execution.gpus``).
    gpus: list[str] | None = None


_TYPES: dict[str, tuple[type, ...]] = {
    "max_concurrent_runs": (int,),
    "snapshot_max_bytes": (int,),
    "snapshot_max_files": (int,),
    "cancel_grace_seconds": (int, float),
    "sample_interval_seconds": (int, float),
    "supervisor_start": (str,),
    "working_copy": (str,),
    "working_copy_pool_entries": (int,),
    "working_copy_pool_bytes": (int,),
    "compute_targets": (dict,),
    "gpus": (list,),
}


def load_config(path: Path) -> WorkspaceConfig:
    """Read and validate ``config.yaml``; a missing file gives the defaults.

    Raises:
        ConfigError: unparsable YAML (with the line), not a mapping, an unknown
            key, or a value of the wrong type or range.
    """
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return WorkspaceConfig()
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at line "
            f"{line}); save it as UTF-8 or delete it to use the defaults.",
            path=str(path),
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from exc
    stamp = [st.st_mtime_ns, st.st_size, st.st_ino]
    cache = path.parent / "tmp" / "config.cache.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached["stamp"] == stamp and cached["text"] == text:
            return config_from_dict(cached["data"], source=str(path))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    data = _parse(path, text)
    config = config_from_dict(data or {}, source=str(path))
    try:  # parsing YAML costs more than the rest of a `runner` command's startup
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"stamp": stamp, "text": text, "data": data or {}}),
                       encoding="utf-8")
        os.replace(tmp, cache)
    except (OSError, TypeError, ValueError):
        pass
    return config


def _parse(path: Path, text: str) -> dict[str, Any] | None:
    """The YAML mapping of ``config.yaml`` (None when empty)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path} is not valid YAML{where}: {problem}; fix the file or delete it to "
            "use the defaults.",
            path=str(path),
        ) from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{path} must be a mapping of setting: value, not {type(data).__name__}.",
            path=str(path),
        )
    return data


def config_from_dict(data: dict[str, Any], source: str = "config") -> WorkspaceConfig:
    """Validate a settings mapping into a :class:`WorkspaceConfig`."""
    known = {f.name for f in fields(WorkspaceConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"unknown setting {key!r} in {source}; known settings: "
                f"{', '.join(sorted(known))}.",
                key=key, path=source,
            )
        types = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ConfigError(
                f"setting {key!r} in {source} must be {' or '.join(t.__name__ for t in types)}, "
                f"not {value!r}.",
                key=key, path=source,
            )
        values[key] = value
    if "compute_targets" in values:
        values["compute_targets"] = _targets_from_config(values["compute_targets"], source)
    if "gpus" in values:
        values["gpus"] = _gpu_ids(values["gpus"], source)
    config = WorkspaceConfig(**values)
    for key in ("max_concurrent_runs", "snapshot_max_bytes", "snapshot_max_files"):
        if getattr(config, key) < 1:
            raise ConfigError(f"setting {key!r} in {source} must be at least 1.",
                              key=key, path=source)
    for key in ("cancel_grace_seconds", "sample_interval_seconds",
                "working_copy_pool_entries", "working_copy_pool_bytes"):
        if getattr(config, key) < 0:
            raise ConfigError(f"setting {key!r} in {source} must not be negative.",
                              key=key, path=source)
    if config.supervisor_start not in ("fork", "exec"):
        raise ConfigError(
            f"setting 'supervisor_start' in {source} must be 'fork' or 'exec', "
            f"not {config.supervisor_start!r}.",
            key="supervisor_start", path=source,
        )
    if config.working_copy not in ("copy", "link"):
        raise ConfigError(
            f"setting 'working_copy' in {source} must be 'copy' or 'link', "
            f"not {config.working_copy!r}.",
            key="working_copy", path=source,
        )
    return config


#: ``type:`` values of ``compute_targets`` entries (each one's settings are checked
#: by its target, registered in :data:`runner.api.hooks.target_types`).
TYPES = ("ray",)


def _targets_from_config(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Validate ``compute_targets`` of ``config.yaml`` into ``{name: target}``.

    Raises:
        ConfigError: a name, a type or a setting of an entry is invalid.
    """
    out: dict[str, Any] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not name or name == LOCAL:
            raise ConfigError(
                f"compute_targets in {source}: {name!r} cannot name a target "
                f"({LOCAL!r} is this machine); use another name.", key="compute_targets",
                path=source)
        if not isinstance(entry, dict):
            raise ConfigError(
                f"compute_targets.{name} in {source} must be a mapping with a 'type' "
                f"(one of: {', '.join(TYPES)}), not {type(entry).__name__}.",
                key=f"compute_targets.{name}", path=source)
        kind = entry.get("type")
        build = hooks.target_types.get(kind) if isinstance(kind, str) else None
        if build is None:
            raise ConfigError(
                f"compute_targets.{name} in {source} has type {kind!r}; known types: "
                f"{', '.join(TYPES)}.", key=f"compute_targets.{name}.type", path=source)
        out[name] = build(name, entry, source)
    return out


def _gpu_ids(data: list[Any], source: str) -> list[str]:
    """Validate ``gpus:``: distinct ids, each a number >= 0 or a name (a GPU UUID)."""
    ids: list[str] = []
    for item in data:
        ok = (isinstance(item, int) and not isinstance(item, bool) and item >= 0) or \
            (isinstance(item, str) and item.strip() and "," not in item)
        if not ok:
            raise ConfigError(
                f"setting 'gpus' in {source} must list GPU ids (numbers >= 0 or names "
                f"without commas), not {item!r}.", key="gpus", path=source)
        if str(item) in ids:
            raise ConfigError(f"setting 'gpus' in {source} lists GPU {item!r} twice.",
                              key="gpus", path=source)
        ids.append(str(item))
    return ids
