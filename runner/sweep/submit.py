"""``Experiment.submit(HyperDriveConfig)`` and ``runner sweep resume``: the parent and its owner.

Submitting checks the trial's ScriptRunConfig as a plain submit would, takes one snapshot
that every trial runs, writes the parent run (type ``hyperdrive``, Queued) with the sweep
serialised in its definition, and starts the parent's owner (:mod:`runner.sweep.owner`)
detached. It returns at once; the owner samples, submits and judges the trials.

Resuming a sweep whose owner died (its record says Failed, code ``OwnerDied``) starts a
new owner for the same parent, which goes on from the trials recorded so far.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..api.config import resolve_config
from ..core.errors import UsageError
from ..core.status import FAILED, QUEUED, RUNNING, RunStatus
from ..execution.submit import check_script, check_source
from ..store import liveness as _liveness
from ..store import proc as _proc
from .config import HyperDriveConfig

if TYPE_CHECKING:
    from ..api.experiment import Experiment
    from ..api.workspace import Workspace
    from .run import HyperDriveRun

RUN_TYPE = "hyperdrive"


def submit_hyperdrive(experiment: Experiment, config: HyperDriveConfig,
                      tags: dict[str, Any] | None = None, run_id: str | None = None,
                      **kwargs: Any) -> HyperDriveRun:
    """Validate, snapshot, record the parent (Queued) and start its owner; see the module."""
    from ..snapshot.snapshots import SnapshotLimits, take_snapshot

    if kwargs:
        raise UsageError(
            f"submit() got unexpected arguments: {', '.join(sorted(kwargs))}.")
    if tags is not None and not isinstance(tags, dict):
        raise UsageError(f"tags must be a dict, not {type(tags).__name__}.")
    ws = experiment.workspace
    settings = ws.config
    resolved = resolve_config(config.run_config, settings.compute_targets)
    source = check_source(resolved.source_directory)
    if resolved.script:
        check_script(source, resolved.script)
    if resolved.environment is not None:
        from ..envs.prepare import validate_environment

        validate_environment(resolved.environment, ws.paths)
    from ..execution.gpus import check_request

    check_request(resolved.resources, settings)
    store = ws.store
    if run_id is not None and store.find_run(run_id) is not None:
        raise UsageError(f"a run with id {run_id!r} exists already; choose another id.",
                         run_id=run_id)
    snapshot = take_snapshot(
        ws.paths, source,
        SnapshotLimits(settings.snapshot_max_bytes, settings.snapshot_max_files))
    run_id = run_id or f"HD_{uuid.uuid4()}"
    env_dict = resolved.environment.to_dict() if resolved.environment is not None else None
    if env_dict is not None:
        python = env_dict.get("python") or {}
        interpreter = python.get("interpreter_path")
        if interpreter and os.sep in interpreter and not os.path.isabs(interpreter):
            python["interpreter_path"] = os.path.abspath(interpreter)
    definition = {
        "hyperdrive": config.sweep_dict(),
        "trial": _trial_definition(resolved, os.path.abspath(source), env_dict),
        "target": "local",
        "sourceDirectory": os.path.abspath(source),
    }
    pid, started = _proc.identity()
    store.insert_run(run_id, experiment.name, type=RUN_TYPE, status=QUEUED, created=time.time(),
                     owner_pid=pid, owner_start=started, snapshot_id=snapshot.id,
                     definition=definition)
    run_dir = ws.paths.run_dir(run_id)
    (run_dir / ".sys").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    if tags:
        store.set_tags(run_id, tags)
    store.add_properties(run_id, {
        "primary_metric_config": _json({"name": config.primary_metric_name,
                                        "goal": config.primary_metric_goal.value}),
        "runTemplate": "HyperDrive",
    })
    private = {"environment": env_dict, "env": resolved.environment_variables}
    _start_owner(ws, run_id, private)
    from .run import HyperDriveRun

    return HyperDriveRun(experiment, run_id)


def resume_sweep(ws: Workspace, run_id: str) -> HyperDriveRun:
    """Start a new owner for a sweep whose owner died; it goes on from the recorded trials.

    Trials that ended stay as they are (they count toward ``max_total_runs``); trials still
    running are judged by the policy again; new trials are sampled from the history.
    Secret-looking environment variables were kept only redacted in the record: a resumed
    sweep's new trials get them as ``***``.

    Raises:
        UsageError: the run is not a sweep, or it is still going, or it ended otherwise
            than by its owner dying.
    """
    store = ws.store
    row = _liveness.reconcile(store, store.get_run(run_id))
    if row["type"] != RUN_TYPE:
        raise UsageError(f"run {run_id} is a {row['type']} run, not a sweep; only HyperDrive "
                         "parent runs can be resumed.", run_id=run_id)
    if row["status"] not in RunStatus.TERMINAL:
        raise UsageError(f"sweep {run_id} is still {row['status']} (its owner, pid "
                         f"{row['owner_pid']}, is alive); there is nothing to resume.",
                         run_id=run_id)
    code = ((row.get("error") or {}).get("error") or {}).get("code")
    if row["status"] != FAILED or code != "OwnerDied":
        raise UsageError(f"sweep {run_id} ended {row['status']} by itself; only a sweep whose "
                         "owner process died can be resumed. Submit a new sweep instead.",
                         run_id=run_id)
    pid, started = _proc.identity()
    if not store.update_run(run_id, status=RUNNING, end_time=None, error=None, owner_pid=pid,
                            owner_start=started, only_if_status=(FAILED,)):
        raise UsageError(f"sweep {run_id} changed while resuming it; try again.", run_id=run_id)
    resumes = int(store.tags(run_id).get("runner.sweep.resumes") or 0) + 1
    store.set_tags(run_id, {"runner.sweep.resumes": resumes})
    trial = (row["definition"] or {}).get("trial") or {}
    _start_owner(ws, run_id, {"environment": trial.get("environment"),
                              "env": trial.get("environmentVariables") or {}})
    from .run import HyperDriveRun

    return HyperDriveRun(ws._experiment(row["experiment"]), run_id)


def _start_owner(ws: Workspace, run_id: str, private: dict[str, Any]) -> None:
    from ..execution.owner import start_detached

    def owner() -> int:
        from .owner import SweepOwner

        return SweepOwner(str(ws.root), run_id, private, ws).run()

    def preload() -> None:
        from ..execution import control as _control  # noqa: F401
        from ..execution import supervisor as _supervisor  # noqa: F401
        from . import owner as _owner  # noqa: F401

    pid = start_detached(ws, run_id, private, ws.config.supervisor_start, owner=owner,
                         module="runner.sweep.owner", preload=preload)
    ws.store.update_run(run_id, owner_pid=pid, owner_start=_proc.start_time(pid))


def _trial_definition(resolved: Any, source: str, env_dict: dict[str, Any] | None
                      ) -> dict[str, Any]:
    """What every trial runs, as kept in the parent's record (secrets redacted)."""
    from ..envs.prepare import redact_env_vars

    environment = None
    if env_dict is not None:
        environment = dict(env_dict)
        if environment.get("environment_variables"):
            environment["environment_variables"] = redact_env_vars(
                environment["environment_variables"])
    return {
        "sourceDirectory": source,
        "script": resolved.script,
        "arguments": resolved.arguments,
        "command": resolved.command,
        "environment": environment,
        "environmentVariables": redact_env_vars(resolved.environment_variables),
        "maxRunDurationSeconds": resolved.max_run_duration_seconds,
        "resources": resolved.resources,
    }


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
