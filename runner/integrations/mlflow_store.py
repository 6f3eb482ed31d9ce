"""MLflow's tracking store and artifact repository for ``runner:`` URIs.

Azure ML set ``MLFLOW_TRACKING_URI`` for every run, so ``mlflow.log_metric``,
``log_param``, ``log_artifact`` and ``autolog`` inside a script landed in the
run's record. runner does the same: the supervisor sets
``MLFLOW_TRACKING_URI=runner:<workspace>`` and ``MLFLOW_RUN_ID=<run id>`` for
the script (unless its run configuration sets them), and MLflow, finding this
module through its entry points, logs into the run:

==========================  ===============================================
``mlflow.log_metric``       ``run.log(key, value, step=step)``
``mlflow.log_param(s)``     the run's parameters (``get_details()["parameters"]``,
                            source ``mlflow``) and its properties
``mlflow.set_tag(s)``       the run's tags (``mlflow.runName`` is its display
                            name; MLflow's own ``mlflow.*`` tags are kept out)
``mlflow.log_artifact(s)``  files of the run (``run.upload_file``)
``mlflow.start_run()``      in a submitted script: the run itself; in a notebook:
                            the ``start_logging`` run of this process if one is
                            Running, else a new interactive run
``mlflow.end_run()``        ends an interactive run (a submitted run's status
                            still comes from its process)
==========================  ===============================================

MLflow experiments are runner experiments (the id is the name). MLflow 3's
logged models (``mlflow.sklearn.log_model``, autolog) are written as files of
their run under ``models/<model id>/``; their entity lives only in the process
that logged it. Datasets logged with ``log_inputs`` are not kept: the call
succeeds and a warning says so.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import (
    Experiment as MlflowExperiment,
)
from mlflow.entities import (
    FileInfo,
    LifecycleStage,
    Metric,
    Param,
    RunData,
    RunInfo,
    RunTag,
    ViewType,
)
from mlflow.entities import (
    Run as MlflowRun,
)
from mlflow.entities import (
    RunStatus as MlflowStatus,
)
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore

from ..api.experiment import Experiment
from ..api.run import Run
from ..api.workspace import Workspace
from ..core.status import CANCELED, COMPLETED, FAILED, RUNNING, RunStatus
from ..inrun import context as _context

logger = logging.getLogger(__name__)

SCHEME = "runner"
DEFAULT_EXPERIMENT = "Default"

_STATUS = {COMPLETED: "FINISHED", FAILED: "FAILED", CANCELED: "KILLED", RUNNING: "RUNNING"}
_ENDS = {"FINISHED": COMPLETED, "FAILED": FAILED, "KILLED": CANCELED}


def workspace_of(uri: str) -> Path | None:
    """The workspace folder a ``runner:<folder>`` URI names (None: the run's own)."""
    parsed = urlparse(uri)
    path = parsed.path or parsed.netloc
    return Path(path) if path else None


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


class RunnerStore(AbstractStore):
    """MLflow's tracking store over a runner workspace (see the module docstring)."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        root = workspace_of(store_uri or "")
        ctx = _context.run_context()
        if root is None and ctx is not None:
            root = Path(ctx.workspace)
        self.ws = Workspace(root) if root is not None else Workspace.from_config()
        self._runs: dict[str, Run] = {}
        self._models: dict[str, Any] = {}

    # ------------------------------------------------------------------ runs

    def _run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            ctx = _context.run_context()
            if ctx is not None and ctx.run_id == run_id:
                run = Run.get_context()  # the in-run handle: batched, flushed at exit
            else:
                run = Run.get(self.ws, run_id)
            self._runs[run_id] = run
        return run

    def _info(self, run: Run) -> RunInfo:
        row = self.ws.store.get_run(run.id)
        status = _STATUS.get(row["status"], "SCHEDULED" if row["status"] not in
                             RunStatus.TERMINAL else "FAILED")
        return RunInfo(run_id=run.id, experiment_id=row["experiment"],
                       user_id=os.environ.get("USER", "runner"), status=status,
                       start_time=_millis(row["start_time"] or row["created"]),
                       end_time=_millis(row["end_time"]),
                       lifecycle_stage=LifecycleStage.ACTIVE,
                       artifact_uri=f"{SCHEME}:{self.ws.paths.run_dir(run.id)}",
                       run_name=row["display_name"] or run.id)

    def get_run(self, run_id: str) -> MlflowRun:
        """The run as MLflow's entity: info, last metric values, params and tags."""
        run = self._run(run_id)
        metrics = []
        for key, value in run.get_metrics().items():
            last = value[-1] if isinstance(value, list) and value else value
            if isinstance(last, (int, float)) and not isinstance(last, bool):
                metrics.append(Metric(key, float(last), 0, 0))
        params = self.ws.store.params([run_id]).get(run_id, {})
        data = RunData(metrics=metrics,
                       params=[Param(k, str(v)) for k, v in params.items()],
                       tags=[RunTag(k, "" if v is None else str(v))
                             for k, v in run.get_tags().items()])
        return MlflowRun(self._info(run), data)

    def create_run(self, experiment_id: str, user_id: str, start_time: int, tags: Any,
                   run_name: str | None) -> MlflowRun:
        """This process's Running ``start_logging`` run, else a new interactive run."""
        mine = [row for row in self.ws.store.active_runs((RUNNING,))
                if row["type"] == "interactive" and row["owner_pid"] == os.getpid()]
        if mine:
            run = self._run(max(mine, key=lambda r: r["created"])["id"])
        else:
            name = experiment_id if experiment_id not in (None, "0") else DEFAULT_EXPERIMENT
            run = Experiment(self.ws, name).start_logging(snapshot_directory=None,
                                                          outputs=False, display_name=run_name)
            self._runs[run.id] = run
        self._tags(run, list(tags or []))
        return MlflowRun(self._info(run), RunData())

    def update_run_info(self, run_id: str, run_status: Any, end_time: int | None,
                        run_name: str | None) -> RunInfo:
        """An interactive run ends with MLflow's status; a submitted one keeps its own."""
        run = self._run(run_id)
        if run_name:
            run.display_name = run_name
        status = run_status if isinstance(run_status, str) else MlflowStatus.to_string(run_status)
        row = self.ws.store.get_run(run_id)
        ending = _ENDS.get(status)
        if ending and row["type"] != "script" and row["status"] not in RunStatus.TERMINAL:
            if ending == COMPLETED:
                run.complete()
            elif ending == FAILED:
                run.fail("The run was ended by MLflow as FAILED.")
            else:
                run.cancel()
        else:
            run.flush()
        return self._info(run)

    def delete_run(self, run_id: str) -> None:
        """Refused: runner keeps every run's record."""
        raise _refused("delete_run")

    def restore_run(self, run_id: str) -> None:
        """Nothing to restore: runs are never deleted."""

    # --------------------------------------------------------------- logging

    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        """Metrics, params and tags into the run (see the module docstring)."""
        run = self._run(run_id)
        for metric in metrics or []:
            run.log(metric.key, metric.value, step=metric.step)
        if params:
            values = {p.key: p.value for p in params}
            self.ws.store.set_params(run_id, values, "mlflow")
            known = run.get_properties()
            new = {k: v for k, v in values.items() if k not in known}
            if new:
                run.add_properties(new)
        self._tags(run, list(tags or []))

    def _tags(self, run: Run, tags: list[Any]) -> None:
        mine = {}
        for tag in tags:
            if tag.key == "mlflow.runName":
                run.display_name = tag.value
            elif not tag.key.startswith("mlflow."):
                mine[tag.key] = tag.value
        if mine:
            run.set_tags(mine)

    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: str | None = None) -> PagedList:
        """The metric's values, in order (steps are their positions)."""
        value = self._run(run_id).get_metrics(name=metric_key).get(metric_key)
        values = value if isinstance(value, list) else ([] if value is None else [value])
        items = [Metric(metric_key, float(v), 0, i) for i, v in enumerate(values)
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return PagedList(items[:max_results] if max_results else items, None)

    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        """Not kept: a warning names what was left out."""
        if datasets or models:
            warnings.warn(f"runner does not keep MLflow dataset inputs or logged models of run "
                          f"{run_id}; metrics, params, tags and artifacts are kept.",
                          stacklevel=2)

    # --------------------------------------------------------- logged models

    def create_logged_model(self, experiment_id: str, name: str | None = None,
                            source_run_id: str | None = None, tags: Any = None,
                            params: Any = None, model_type: str | None = None) -> Any:
        """A model logged from a run: its files go to ``models/<id>/`` of that run."""
        import uuid

        from mlflow.entities import LoggedModel

        if source_run_id is None:
            raise _refused("logging a model outside a run")
        model_id = f"m-{uuid.uuid4().hex}"
        now = _millis(time.time())
        model = LoggedModel(
            experiment_id=experiment_id, model_id=model_id, name=name or "model",
            artifact_location=f"{SCHEME}:{self.ws.paths.run_dir(source_run_id)}/models/"
                              f"{model_id}",
            creation_timestamp=now, last_updated_timestamp=now, model_type=model_type,
            source_run_id=source_run_id, tags={t.key: t.value for t in tags or []},
            params={p.key: p.value for p in params or []})
        self._models[model_id] = model
        return model

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> Any:
        """A model logged by this process."""
        try:
            return self._models[model_id]
        except KeyError:
            raise _refused(f"reading model {model_id} from another process") from None

    def finalize_logged_model(self, model_id: str, status: Any) -> Any:
        """Mark the model's status (kept in this process)."""
        model = self.get_logged_model(model_id)
        model._status = status
        return model

    def set_logged_model_tags(self, model_id: str, tags: Any) -> None:
        """Tags of a model of this process."""
        model = self.get_logged_model(model_id)
        model._tags.update({t.key: t.value for t in tags or []})

    def log_logged_model_params(self, model_id: str, params: Any) -> None:
        """Params of a model of this process."""
        model = self.get_logged_model(model_id)
        model._params.update({p.key: p.value for p in params or []})

    def log_outputs(self, run_id: str, models: Any) -> None:
        """The run's models are already its files (``models/``)."""

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        """The model's files are the run's record (``models/``)."""

    def search_logged_models(self, experiment_ids: Any, filter_string: Any = None,
                             datasets: Any = None, max_results: Any = None,
                             order_by: Any = None, page_token: Any = None) -> PagedList:
        """Models logged by this process in those experiments."""
        found = [m for m in self._models.values() if m.experiment_id in (experiment_ids or [])]
        return PagedList(found, None)

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        """MLflow traces are not kept by runner."""
        raise _refused("link_traces_to_run")

    def _search_runs(self, experiment_ids: Any, filter_string: Any, run_view_type: Any,
                     max_results: int, order_by: Any, page_token: Any) -> tuple[list, None]:
        """Runs of the experiments, newest first (filters are not applied)."""
        if filter_string:
            raise _refused("search_runs(filter_string=...)")
        found = []
        for experiment_id in experiment_ids or []:
            for run in Experiment(self.ws, experiment_id).get_runs():
                found.append(self.get_run(run.id))
                if len(found) >= max_results:
                    return found, None
        return found, None

    # ----------------------------------------------------------- experiments

    def _experiment(self, name: str) -> MlflowExperiment:
        Experiment(self.ws, name)
        return MlflowExperiment(name, name, f"{SCHEME}:{self.ws.root}", LifecycleStage.ACTIVE)

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: Any = None,
                           page_token: Any = None) -> PagedList:
        """Every experiment of the workspace."""
        names = [e["name"] for e in self.ws.store.experiments()]
        return PagedList([self._experiment(n) for n in names[:max_results]], None)

    def create_experiment(self, name: str, artifact_location: Any = None,
                          tags: Any = None) -> str:
        """Make the runner experiment ``name``; its id is its name."""
        return self._experiment(name).experiment_id

    def get_experiment(self, experiment_id: str) -> MlflowExperiment:
        """The experiment whose id (name) is ``experiment_id`` (``0``: ``Default``)."""
        return self._experiment(DEFAULT_EXPERIMENT if experiment_id == "0" else experiment_id)

    def get_experiment_by_name(self, experiment_name: str) -> MlflowExperiment:
        """The experiment ``experiment_name`` (made on first use, as runner does)."""
        return self._experiment(experiment_name)

    def delete_experiment(self, experiment_id: str) -> None:
        """Refused: runner keeps every experiment's record."""
        raise _refused("delete_experiment")

    def restore_experiment(self, experiment_id: str) -> None:
        """Nothing to restore."""

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Refused: experiment names are their ids."""
        raise _refused("rename_experiment")


def _refused(what: str) -> Exception:
    from mlflow.exceptions import MlflowException

    return MlflowException(f"runner's MLflow store does not support {what}.")


class RunnerArtifactRepository(ArtifactRepository):
    """MLflow artifacts of a run as the run's files (``runner:<run folder>[/path]``)."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None,
                 registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri)
        path = Path(urlparse(artifact_uri).path)
        parts = path.parts
        try:
            at = max(i for i in range(len(parts) - 2)
                     if parts[i] == ".runner" and parts[i + 1] == "runs")
        except ValueError:
            raise ValueError(f"{artifact_uri!r} is not a runner run's artifact URI "
                             f"(runner:<workspace>/.runner/runs/<run id>).") from None
        self.ws = Workspace(Path(*parts[:at]))
        self.run_id = parts[at + 2]
        self.prefix = "/".join(parts[at + 3:])

    def _name(self, *pieces: str | None) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *pieces) if p)

    def _run(self) -> Run:
        ctx = _context.run_context()
        if ctx is not None and ctx.run_id == self.run_id:
            return Run.get_context()
        return Run.get(self.ws, self.run_id)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Store ``local_file`` as ``<artifact_path>/<its name>``."""
        self._run().upload_file(self._name(artifact_path, os.path.basename(local_file)),
                                local_file)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Store every file under ``local_dir`` below ``artifact_path``."""
        run = self._run()
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                rel = path.relative_to(local_dir).as_posix()
                run.upload_file(self._name(artifact_path, rel), str(path))

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The run's files directly below ``path``."""
        base = self._name(path)
        prefix = f"{base}/" if base else ""
        folder = self.ws.paths.run_dir(self.run_id)
        seen: dict[str, FileInfo] = {}
        for name in self._run().get_file_names():
            if not name.startswith(prefix):
                continue
            head, _, rest = name[len(prefix):].partition("/")
            rel = (f"{path.strip('/')}/{head}" if path else head)
            if rest:
                seen.setdefault(rel, FileInfo(rel, True, None))
            else:
                seen[rel] = FileInfo(rel, False, (folder / name).stat().st_size)
        return sorted(seen.values(), key=lambda f: f.path)

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        import shutil

        shutil.copyfile(self.ws.paths.run_dir(self.run_id) / self._name(remote_file_path),
                        local_path)
