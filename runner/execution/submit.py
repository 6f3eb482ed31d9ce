"""``Experiment.submit``: validate everything, snapshot, record, start the supervisor.

Nothing is written before validation passes: a bad submission leaves no run row
and no run folder. The call returns as soon as the supervisor is started.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api.config import LOCAL, ResolvedConfig, ScriptRunConfig, resolve_config
from ..api.data_io import bind_data
from ..core.errors import UsageError
from ..core.params import parse_arguments
from ..core.status import QUEUED
from ..store import proc as _proc

if TYPE_CHECKING:
    from ..api.experiment import Experiment
    from ..api.run import Run

_RUN_TYPE = "script"


def new_run_id(experiment: str) -> str:
    """``<experiment>_<unix seconds>_<8 hex>``, as Azure ML named submitted runs."""
    return f"{experiment}_{int(time.time())}_{os.urandom(4).hex()}"


def check_script(source: Path, script: str) -> None:
    """The script must be an existing file inside the source directory.

    Raises:
        UsageError: it is missing, absolute, uses ``..`` or resolves outside.
    """
    rel = Path(script)
    if rel.is_absolute() or ".." in rel.parts:
        raise UsageError(
            f"script {script!r} must be a path inside the source directory {source} "
            "(relative, without '..').",
            script=script,
        )
    path = source / rel
    real_source = source.resolve()
    real = path.resolve()
    if real != real_source and real_source not in real.parents:
        raise UsageError(
            f"script {script!r} resolves to {real}, outside the source directory "
            f"{real_source}; the script must be inside the folder that is submitted.",
            script=script,
        )
    if not path.is_file():
        raise UsageError(
            f"script {script!r} does not exist in the source directory {source}.",
            script=script,
        )


def check_source(source_directory: str) -> Path:
    """The source directory must exist and be a folder."""
    source = Path(source_directory)
    if not source.is_dir():
        what = "is not a folder" if source.exists() else "does not exist"
        raise UsageError(
            f"source directory {source_directory!r} {what}; pass the folder that holds "
            "your script as source_directory.",
            path=str(source),
        )
    return source


def submit(experiment: Experiment, config: ScriptRunConfig, tags: dict[str, Any] | None = None,
           run_id: str | None = None, _parent_id: str | None = None,
           _snapshot_id: str | None = None, **kwargs: Any) -> Run:
    """Validate, snapshot, record (Queued) and start a supervised run.

    ``_snapshot_id`` runs an existing snapshot instead of taking one (a sweep's trials
    all run the snapshot taken when the sweep was submitted).
    """
    from ..snapshot.snapshots import SnapshotLimits, take_snapshot

    if kwargs:
        hint = (" (call run.wait_for_completion(show_output=True) on the returned run)"
                if "show_output" in kwargs else "")
        raise UsageError(
            f"submit() got unexpected arguments: {', '.join(sorted(kwargs))}{hint}.")
    ws = experiment.workspace
    settings = ws.config
    new_id = run_id or new_run_id(experiment.name)
    config, data = bind_data(ws, config, new_id)  # dataset arguments become local paths
    resolved = resolve_config(config, settings.compute_targets)
    remote = None if resolved.target == LOCAL else resolved.target
    for text in resolved.notices:
        from ..api.notices import notice

        notice(text)
    source = Path(resolved.source_directory)
    if _snapshot_id is None:
        source = check_source(resolved.source_directory)
        if resolved.script:
            check_script(source, resolved.script)
    if remote is not None:  # the environment is built on the cluster: check what we can
        remote.check_submission(resolved, ws)
    elif resolved.environment is not None:
        from ..api.notices import notice
        from ..envs.prepare import validate_environment

        for text in validate_environment(resolved.environment, ws.paths):
            notice(text)
    if remote is None and resolved.resources.get("gpu"):
        from .gpus import check_request

        check_request(resolved.resources, settings)
    if tags is not None and not isinstance(tags, dict):
        raise UsageError(f"tags must be a dict, not {type(tags).__name__}.")
    store = ws.store
    if run_id is not None and store.find_run(run_id) is not None:
        raise UsageError(f"a run with id {run_id!r} exists already; choose another id.",
                         run_id=run_id)
    if _snapshot_id is None:
        if remote is not None and hasattr(remote, "check_source"):
            remote.check_source(source)  # refused before anything is copied into the store
        snapshot = take_snapshot(
            ws.paths, source,
            SnapshotLimits(settings.snapshot_max_bytes, settings.snapshot_max_files),
        )
        if remote is not None:
            remote.check_snapshot(snapshot)
        snapshot_id = snapshot.id
    else:
        snapshot_id = _snapshot_id
    run_id = new_id
    env_dict = resolved.environment.to_dict() if resolved.environment is not None else None
    if env_dict is not None:
        # The supervisor runs in another folder: a relative interpreter path means this one.
        python = env_dict.get("python") or {}
        interpreter = python.get("interpreter_path")
        if interpreter and ("/" in interpreter or os.sep in interpreter) \
                and not os.path.isabs(interpreter):
            python["interpreter_path"] = os.path.abspath(interpreter)
    definition = _definition(resolved, source, env_dict)
    pid, started = _proc.identity()
    run_dir = ws.paths.run_dir(run_id)
    data.commit(remote)
    store.insert_run(
        run_id, experiment.name, parent_id=_parent_id, type=_RUN_TYPE, status=QUEUED,
        created=time.time(), owner_pid=pid, owner_start=started,
        snapshot_id=snapshot_id, definition=definition,
    )
    (run_dir / ".sys").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    if tags:
        store.set_tags(run_id, tags)
    params = parse_arguments(resolved.command or resolved.arguments)
    if params:
        store.set_params(run_id, params, "arguments")
    from .control import start_supervisor

    private = {"environment": env_dict, "env": resolved.environment_variables}
    if remote is None:
        start_supervisor(ws, run_id, private, settings.supervisor_start)
    else:  # the target's owner process plays the supervisor's part
        private["resources"] = resolved.resources
        remote.start(ws, run_id, private, settings.supervisor_start)
    # The owner has recorded itself (pid + start time) as the run's owner by now.
    from ..api.run import Run  # imported while the supervisor starts the script

    return Run(experiment, run_id)


def _definition(resolved: ResolvedConfig, source: Path,
                env_dict: dict[str, Any] | None) -> dict[str, Any]:
    """The ``runDefinition`` kept with the run (secrets redacted)."""
    if env_dict is None and not resolved.environment_variables:
        def redact(variables: dict[str, str]) -> dict[str, str]:
            return variables
    else:
        from ..envs.prepare import redact_env_vars as redact

    environment = None
    if env_dict is not None:
        environment = dict(env_dict)
        if environment.get("environment_variables"):
            environment["environment_variables"] = redact(environment["environment_variables"])
    return {
        "script": resolved.script,
        "arguments": resolved.arguments,
        "command": resolved.command,
        "target": resolved.target_name,
        "sourceDirectory": os.path.abspath(source),
        "environment": environment,
        "environmentVariables": redact(resolved.environment_variables),
        "maxRunDurationSeconds": resolved.max_run_duration_seconds,
        **({"resources": resolved.resources} if resolved.resources else {}),
        **({"docker": resolved.docker} if resolved.docker is not None else {}),
        **({"distributed": resolved.distributed.to_dict()}
           if resolved.distributed is not None else {}),
    }
