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
    "AmlCompute": ".api.compute",
    "ComputeInstance": ".api.compute",
    "ComputeTarget": ".api.compute",
    "ComputeTargetNotFound": ".core.errors",
    "DockerConfiguration": ".api.runconfig_v1",
    "MpiConfiguration": ".api.runconfig_v1",
    "PyTorchConfiguration": ".api.runconfig_v1",
    "ArtifactError": ".core.errors",
    "ArtifactNotFound": ".core.errors",
    "BanditPolicy": ".sweep.policy",
    "BayesianParameterSampling": ".sweep.sampling",
    "CondaDependencies": ".api.environment",
    "ConfigError": ".core.errors",
    "DataPath": ".api.datastore",
    "DataType": ".api.dataset",
    "Dataset": ".api.dataset",
    "DatasetConsumptionConfig": ".api.data_io",
    "DatasetNotFound": ".core.errors",
    "Datastore": ".api.datastore",
    "DatastoreNotFound": ".core.errors",
    "EarlyTerminationPolicy": ".sweep.policy",
    "Environment": ".api.environment",
    "EnvironmentBuildError": ".core.errors",
    "EnvironmentNotFound": ".core.errors",
    "EnvironmentSpecError": ".core.errors",
    "Experiment": ".api.experiment",
    "FileDataset": ".api.dataset",
    "GridParameterSampling": ".sweep.sampling",
    "HyperDriveConfig": ".sweep.config",
    "HyperDriveRun": ".sweep.run",
    "HyperParameterSampling": ".sweep.sampling",
    "InferenceConfig": ".api.model",
    "MedianStoppingPolicy": ".sweep.policy",
    "MetricError": ".core.errors",
    "Model": ".api.model",
    "ModelNotFound": ".core.errors",
    "NoTerminationPolicy": ".sweep.policy",
    "NotFoundError": ".core.errors",
    "OutputFileDatasetConfig": ".api.data_io",
    "PrimaryMetricGoal": ".sweep.policy",
    "RandomParameterSampling": ".sweep.sampling",
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
    "TruncationSelectionPolicy": ".sweep.policy",
    "UsageError": ".core.errors",
    "Webservice": ".api.model",
    "Workspace": ".api.workspace",
    "WorkspaceNotFound": ".core.errors",
    "choice": ".sweep.space",
    "lognormal": ".sweep.space",
    "loguniform": ".sweep.space",
    "normal": ".sweep.space",
    "qlognormal": ".sweep.space",
    "qloguniform": ".sweep.space",
    "qnormal": ".sweep.space",
    "quniform": ".sweep.space",
    "randint": ".sweep.space",
    "uniform": ".sweep.space",
}

__all__ = sorted(_EXPORTS)


def _submit_script(experiment: Any, config: Any, tags: Any = None, **kwargs: Any) -> Any:
    from .execution.submit import submit

    return submit(experiment, config, tags=tags, **kwargs)


def _submit_hyperdrive(experiment: Any, config: Any, tags: Any = None, **kwargs: Any) -> Any:
    from .sweep.submit import submit_hyperdrive

    return submit_hyperdrive(experiment, config, tags=tags, **kwargs)


#: ``Experiment.submit`` by config class (v1's ``experiment_method`` registry):
#: ``(module, class name) -> submit function``; keyed by name so nothing is imported
#: until a config of that class is submitted.
SUBMITTERS: dict[tuple[str, str], Any] = {
    ("runner.api.config", "ScriptRunConfig"): _submit_script,
    ("runner.sweep.config", "HyperDriveConfig"): _submit_hyperdrive,
}


def _submit(experiment: Any, config: Any, tags: Any = None, **kwargs: Any) -> Any:
    for cls in type(config).__mro__:
        function = SUBMITTERS.get((cls.__module__, cls.__qualname__))
        if function is not None:
            return function(experiment, config, tags=tags, **kwargs)
    from .core.errors import UsageError

    raise UsageError(
        f"submit() takes a ScriptRunConfig or a HyperDriveConfig, not "
        f"{type(config).__name__}.")


def _hyperdrive_run() -> type:
    from .sweep.run import HyperDriveRun

    return HyperDriveRun


def _wait(run: Any, **kwargs: Any) -> Any:
    from .execution.wait import wait_for_completion

    return wait_for_completion(run, **kwargs)


def _cancel(workspace: Any, row: Any) -> None:
    from .execution.control import request_cancel

    request_cancel(workspace, row)


def _repr_html(run: Any) -> str:
    if run.type == "hyperdrive":
        from .studio.render_sweep import sweep_html

        return sweep_html(run)
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


def _reattach(run: Any) -> bool:
    """Start an owner for a run on a cluster whose owner died; True if one was started."""
    from .store.liveness import reconcile

    store = run.experiment.workspace.store
    if not reconcile(store, store.get_run(run.id)).get("detached"):
        return False
    from .core.errors import UsageError
    from .targets.ray_owner import attach

    try:
        attach(run.experiment.workspace, run.id, mode="exec")
    except UsageError:  # another reader attached first, or the run ended meanwhile
        return False
    return True


def _install_hooks() -> None:
    """Give the API what it needs from the layers above it (see ``runner.api.hooks``)."""
    from .api import hooks

    for name, function in (("submit", _submit), ("wait", _wait), ("cancel", _cancel),
                           ("repr_html", _repr_html), ("run_url", _run_url),
                           ("context_run", _context_run), ("workspace", _workspace),
                           ("reattach", _reattach)):
        hooks.register(name, function)
    hooks.target_types["ray"] = _ray_target
    hooks.run_types["hyperdrive"] = _hyperdrive_run
    hooks.owned_types.add("hyperdrive")


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
    from .api.compute import AmlCompute, ComputeInstance, ComputeTarget
    from .api.config import RunConfiguration, ScriptRunConfig
    from .api.data_io import DatasetConsumptionConfig, OutputFileDatasetConfig
    from .api.dataset import Dataset, DataType, FileDataset, TabularDataset
    from .api.datastore import DataPath, Datastore
    from .api.environment import CondaDependencies, Environment
    from .api.experiment import Experiment
    from .api.model import AciWebservice, InferenceConfig, Model, Webservice
    from .api.run import Run
    from .api.runconfig_v1 import DockerConfiguration, MpiConfiguration, PyTorchConfiguration
    from .api.workspace import Workspace
    from .core.errors import (
        ArtifactError,
        ArtifactNotFound,
        ComputeTargetNotFound,
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
    from .sweep.config import HyperDriveConfig
    from .sweep.policy import (
        BanditPolicy,
        EarlyTerminationPolicy,
        MedianStoppingPolicy,
        NoTerminationPolicy,
        PrimaryMetricGoal,
        TruncationSelectionPolicy,
    )
    from .sweep.run import HyperDriveRun
    from .sweep.sampling import (
        BayesianParameterSampling,
        GridParameterSampling,
        HyperParameterSampling,
        RandomParameterSampling,
    )
    from .sweep.space import (
        choice,
        lognormal,
        loguniform,
        normal,
        qlognormal,
        qloguniform,
        qnormal,
        quniform,
        randint,
        uniform,
    )
    from .targets.ray import RayCluster

    ActivityFailedException = RunFailed
