"""runner: submit scripts and track runs on your own machine.

A local home for the script-submission and run-tracking workflow of Azure ML
SDK v1. Everything users need is imported from here::

    from runner import Workspace, Experiment, Run, ScriptRunConfig, Environment

Names are loaded on first use, so ``import runner`` (and the in-run path
``Run.get_context().log(...)``) imports nothing but the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ActivityFailedException": "._exceptions:RunFailed",
    "ArtifactError": "._exceptions",
    "ArtifactNotFound": "._exceptions",
    "CondaDependencies": "._environment",
    "ConfigError": "._exceptions",
    "Environment": "._environment",
    "EnvironmentBuildError": "._exceptions",
    "EnvironmentNotFound": "._exceptions",
    "EnvironmentSpecError": "._exceptions",
    "Experiment": "._experiment",
    "MetricError": "._exceptions",
    "NotFoundError": "._exceptions",
    "RayCluster": "._targets.ray",
    "Run": "._run",
    "RunConfiguration": "._config",
    "RunEnvironmentError": "._exceptions",
    "RunFailed": "._exceptions",
    "RunNotFound": "._exceptions",
    "RunStatus": "._models",
    "RunnerError": "._exceptions",
    "ScriptRunConfig": "._config",
    "SnapshotError": "._exceptions",
    "StoreError": "._exceptions",
    "UsageError": "._exceptions",
    "Workspace": "._workspace",
    "WorkspaceNotFound": "._exceptions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    from importlib import import_module

    module_name, _, attr = target.partition(":")
    value = getattr(import_module(module_name, __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]


if TYPE_CHECKING:  # pragma: no cover
    from ._config import RunConfiguration, ScriptRunConfig
    from ._environment import CondaDependencies, Environment
    from ._exceptions import (
        ArtifactError,
        ArtifactNotFound,
        ConfigError,
        EnvironmentBuildError,
        EnvironmentNotFound,
        EnvironmentSpecError,
        MetricError,
        NotFoundError,
        RunEnvironmentError,
        RunFailed,
        RunnerError,
        RunNotFound,
        SnapshotError,
        StoreError,
        UsageError,
        WorkspaceNotFound,
    )
    from ._experiment import Experiment
    from ._models import RunStatus
    from ._run import Run
    from ._targets.ray import RayCluster
    from ._workspace import Workspace

    ActivityFailedException = RunFailed
