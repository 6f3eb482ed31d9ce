"""runner: submit scripts and track runs on your own machine.

A local home for the script-submission and run-tracking workflow of Azure ML
SDK v1. Everything users need is imported from here::

    from runner import Workspace, Experiment, Run, ScriptRunConfig, Environment

Names are loaded on first use, so ``import runner`` (and the in-run path
``Run.get_context().log(...)``) imports nothing but the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.version import __version__

_EXPORTS = {
    "AciWebservice": ".api.model",
    "ActivityFailedException": ".core.errors:RunFailed",
    "ArtifactError": ".core.errors",
    "ArtifactNotFound": ".core.errors",
    "CondaDependencies": ".api.environment",
    "ConfigError": ".core.errors",
    "DataPath": ".api.datastore",
    "DataType": ".api.dataset",
    "Dataset": ".api.dataset",
    "DatasetConsumptionConfig": ".api.data_io",
    "DatasetNotFound": ".core.errors",
    "Datastore": ".api.datastore",
    "DatastoreNotFound": ".core.errors",
    "Environment": ".api.environment",
    "EnvironmentBuildError": ".core.errors",
    "EnvironmentNotFound": ".core.errors",
    "EnvironmentSpecError": ".core.errors",
    "Experiment": ".api.experiment",
    "FileDataset": ".api.dataset",
    "InferenceConfig": ".api.model",
    "MetricError": ".core.errors",
    "Model": ".api.model",
    "ModelNotFound": ".core.errors",
    "NotFoundError": ".core.errors",
    "OutputFileDatasetConfig": ".api.data_io",
    "RayCluster": ".targets.ray",
    "Run": ".api.run",
    "RunConfiguration": ".api.config",
    "RunEnvironmentError": ".core.errors",
    "RunFailed": ".core.errors",
    "RunNotFound": ".core.errors",
    "RunStatus": ".core.status",
    "RunnerError": ".core.errors",
    "ScriptRunConfig": ".api.config",
    "SnapshotError": ".core.errors",
    "StoreError": ".core.errors",
    "TabularDataset": ".api.dataset",
    "UsageError": ".core.errors",
    "Webservice": ".api.model",
    "Workspace": ".api.workspace",
    "WorkspaceNotFound": ".core.errors",
}

__all__ = sorted(_EXPORTS)


def _submit(experiment: Any, config: Any, tags: Any = None, **kwargs: Any) -> Any:
    from .execution.submit import submit

    return submit(experiment, config, tags=tags, **kwargs)


def _wait(run: Any, **kwargs: Any) -> Any:
    from .execution.wait import wait_for_completion

    return wait_for_completion(run, **kwargs)


def _cancel(workspace: Any, row: Any) -> None:
    from .execution.control import request_cancel

    request_cancel(workspace, row)


def _repr_html(run: Any) -> str:
    from .studio.render import run_html

    return run_html(run)


def _run_url(paths: Any, run_id: str) -> str | None:
    from .studio.discovery import run_url

    return run_url(paths, run_id)


def _context_run(ctx: Any) -> Any:
    """The Run of a submitted script, for its run context."""
    if ctx.tracking_uri:  # a run on another machine: it logs through a tracking server
        from .api.remote_run import remote_run

        return remote_run(ctx)
    from .api.run import Run
    from .api.workspace import Workspace

    return Run(Workspace(ctx.workspace)._experiment(ctx.experiment), ctx.run_id, _in_run=True)


def _workspace(path: Any = None) -> Any:
    from .api.workspace import Workspace

    return Workspace(path) if path else Workspace.from_config()


def _ray_target(name: str, entry: dict[str, Any], source: str) -> Any:
    from .targets.ray import RayCluster

    return RayCluster.from_config(name, entry, source)


def _install_hooks() -> None:
    """Give the API what it needs from the layers above it (see ``runner.api.hooks``)."""
    from .api import hooks

    for name, function in (("submit", _submit), ("wait", _wait), ("cancel", _cancel),
                           ("repr_html", _repr_html), ("run_url", _run_url),
                           ("context_run", _context_run), ("workspace", _workspace)):
        hooks.register(name, function)
    hooks.target_types["ray"] = _ray_target


_install_hooks()


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
    from .api.config import RunConfiguration, ScriptRunConfig
    from .api.data_io import DatasetConsumptionConfig, OutputFileDatasetConfig
    from .api.dataset import Dataset, DataType, FileDataset, TabularDataset
    from .api.datastore import DataPath, Datastore
    from .api.environment import CondaDependencies, Environment
    from .api.experiment import Experiment
    from .api.model import AciWebservice, InferenceConfig, Model, Webservice
    from .api.run import Run
    from .api.workspace import Workspace
    from .core.errors import (
        ArtifactError,
        ArtifactNotFound,
        ConfigError,
        DatasetNotFound,
        DatastoreNotFound,
        EnvironmentBuildError,
        EnvironmentNotFound,
        EnvironmentSpecError,
        MetricError,
        ModelNotFound,
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
    from .core.status import RunStatus
    from .targets.ray import RayCluster

    ActivityFailedException = RunFailed
