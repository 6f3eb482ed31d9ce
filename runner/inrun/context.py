"""The run context: the one module that reads ``RUNNER_*`` environment variables.

The launcher sets them for a submitted script; ``Run.get_context()`` reads them
here once per process. Standard library only, like everything a script imports.

Variables:
    RUNNER_WORKSPACE   the workspace root (also overrides workspace discovery)
    RUNNER_RUN_ID      the id of the run this process belongs to
    RUNNER_EXPERIMENT  that run's experiment name
    RUNNER_TRACKING_URI    ``http(s)://`` of a ``runner server``: the run logs through
                           it (a run on another machine, e.g. a Ray cluster) instead
                           of opening the workspace's files
    RUNNER_TRACKING_TOKEN  the bearer token that server asks for, if any
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

WORKSPACE_VAR = "RUNNER_WORKSPACE"
RUN_ID_VAR = "RUNNER_RUN_ID"
EXPERIMENT_VAR = "RUNNER_EXPERIMENT"
TRACKING_URI_VAR = "RUNNER_TRACKING_URI"
TRACKING_TOKEN_VAR = "RUNNER_TRACKING_TOKEN"


class RunContext(NamedTuple):
    """Where a submitted run's process logs to."""

    workspace: str
    run_id: str
    experiment: str
    #: ``http(s)://`` of the tracking server when the run logs over HTTP, else None.
    tracking_uri: str | None = None
    tracking_token: str | None = None


_lock = threading.Lock()
_context: RunContext | None = None
_context_read = False
_current_run = None  # the per-process Run singleton


def run_context() -> RunContext | None:
    """The context the launcher gave this process, or None outside a submitted run."""
    global _context, _context_read
    if not _context_read:
        env = os.environ
        uri = env.get(TRACKING_URI_VAR, "")
        remote = uri.lower().startswith(("http://", "https://"))
        if env.get(RUN_ID_VAR) and env.get(EXPERIMENT_VAR) and remote:
            _context = RunContext(env.get(WORKSPACE_VAR, ""), env[RUN_ID_VAR],
                                  env[EXPERIMENT_VAR], uri.rstrip("/"),
                                  env.get(TRACKING_TOKEN_VAR) or None)
        elif env.get(RUN_ID_VAR) and env.get(WORKSPACE_VAR) and env.get(EXPERIMENT_VAR):
            _context = RunContext(env[WORKSPACE_VAR], env[RUN_ID_VAR], env[EXPERIMENT_VAR])
        _context_read = True
    return _context


def workspace_override() -> str | None:
    """``RUNNER_WORKSPACE`` if set: the workspace every lookup uses."""
    return os.environ.get(WORKSPACE_VAR) or None


def context_environ(workspace: str, run_id: str, experiment: str) -> dict[str, str]:
    """The variables a launched script gets so that ``Run.get_context()`` finds its run."""
    return {
        WORKSPACE_VAR: workspace,
        RUN_ID_VAR: run_id,
        EXPERIMENT_VAR: experiment,
        # read by scripts written for Azure ML that look at these directly
        "AZUREML_RUN_ID": run_id,
        "AZUREML_ARM_PROJECT_NAME": experiment,
    }


def mlflow_environ(workspace: str, run_id: str) -> dict[str, str]:
    """What MLflow needs to log into the run (``runner:`` store, the run's id), as Azure ML
    set ``MLFLOW_TRACKING_URI`` for its runs; a run configuration may override them."""
    return {"MLFLOW_TRACKING_URI": f"runner:{workspace}", "MLFLOW_RUN_ID": run_id}


def remote_context_environ(tracking_uri: str, run_id: str, experiment: str,
                           token: str | None = None) -> dict[str, str]:
    """The variables a script on another machine gets so that ``Run.get_context()``
    logs to the tracking server at ``tracking_uri``."""
    env = {
        TRACKING_URI_VAR: tracking_uri,
        RUN_ID_VAR: run_id,
        EXPERIMENT_VAR: experiment,
        "AZUREML_RUN_ID": run_id,
        "AZUREML_ARM_PROJECT_NAME": experiment,
    }
    if token:
        env[TRACKING_TOKEN_VAR] = token
    return env


def current_run(factory):
    """The per-process run singleton, made by ``factory(context)`` on first use."""
    global _current_run
    with _lock:
        if _current_run is None:
            _current_run = factory(run_context())
        return _current_run


def reset() -> None:
    """Forget what was read (tests, and a forked child that becomes another run)."""
    global _context, _context_read, _current_run
    with _lock:
        _context = None
        _context_read = False
        _current_run = None
