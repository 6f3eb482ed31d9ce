"""Datasets in and out of a submitted run.

Inputs: ``dataset.as_named_input("train").as_mount()`` (or ``.as_download()``)
given in ``ScriptRunConfig(arguments=[...])`` becomes a local folder path at
submit. A mount is the frozen snapshot of the dataset's files (read-only; an
unregistered dataset is frozen at submit); a download is a writable copy in the
run's folder (``.inputs/<name>``, removed with the working copy when the run
ends). The run records which dataset versions it read; inside the script
``run.input_datasets["train"]`` is the path (file datasets) or the dataset
(tabular ones).

Outputs: ``OutputFileDatasetConfig(name=, destination=(datastore, "path"))``
becomes a folder on that datastore (default: ``dataset/{run-id}/{output-name}`` on
the default datastore) that the script writes into, so whatever it wrote is kept
whatever the run's end. When the run ends, :func:`finish_outputs` records what
is there; with ``.register_on_complete(name)`` a Completed run registers it as a
new version of dataset ``name`` (a failed or canceled run does not).
"""

from __future__ import annotations

import copy
import os
import re
from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError
from ..registry import assets as _assets
from ..registry import content as _content
from .dataset_paths import check_dataset_name
from .datastore import DataPath, Datastore, check_relative

if TYPE_CHECKING:
    from .dataset import AbstractDataset
    from .workspace import Workspace

_INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
#: Folder of a run (under its run folder) where downloaded inputs go.
INPUTS_DIR = ".inputs"
_MECHANISM = {"mount": "Mount", "download": "Download", "direct": "Direct"}


def _check_input_name(name: Any) -> str:
    if not isinstance(name, str) or not _INPUT_NAME.match(name):
        raise UsageError(f"input name {name!r} must start with a letter or '_' and hold only "
                         "letters, digits and '_'.")
    return name


class DatasetConsumptionConfig:
    """How a run consumes a dataset: its input name and mode (direct, mount, download).

    ``path_on_compute`` is accepted and not used: the path is always the frozen
    folder (mount, direct) or ``.inputs/<name>`` in the run's folder (download).
    """

    def __init__(self, name: str, dataset: AbstractDataset, mode: str = "direct",
                 path_on_compute: str | None = None) -> None:
        self.name = _check_input_name(name)
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The run gets a read-only folder of the files (its path as the argument)."""
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The run gets a folder of writable copies of the files (its path as the argument)."""
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def as_hdfs(self) -> DatasetConsumptionConfig:
        """Refused: there is no HDFS here (raises UsageError)."""
        raise UsageError("as_hdfs() is not supported: runs here have no HDFS. Use as_mount() "
                         "(a read-only folder) or as_download() (copies) instead.")

    def __repr__(self) -> str:
        return f"<DatasetConsumptionConfig {self.name} {self.mode} {self.dataset!r}>"


class OutputFileDatasetConfig:
    """A folder a run writes, kept on a datastore, optionally registered as a dataset.

    Args:
        name: The output's name (``{output-name}`` in the destination path).
        destination: ``(datastore, "path")``; ``{run-id}`` and ``{output-name}`` in
            the path are replaced. Default: ``dataset/{run-id}/{output-name}`` on the
            workspace's default datastore.
        source: Accepted for compatibility; the script writes the folder directly.
        partition_format: Accepted for compatibility, not used.
    """

    def __init__(self, name: str | None = None, destination: Any = None,
                 source: str | None = None, partition_format: str | None = None) -> None:
        self.name = _check_input_name(name) if name is not None else \
            f"output_{os.urandom(4).hex()}"
        if destination is not None:
            if not (isinstance(destination, tuple) and len(destination) == 2
                    and isinstance(destination[0], Datastore)):
                raise UsageError("destination must be (datastore, 'path'), not "
                                 f"{destination!r}.")
            check_relative(destination[1], "destination path")
        self.destination = destination
        self.source = source
        self._register: dict[str, Any] | None = None

    def register_on_complete(self, name: str, description: str | None = None,
                             tags: dict[str, Any] | None = None) -> OutputFileDatasetConfig:
        """Register the folder as a new version of dataset ``name`` when the run completes."""
        check_dataset_name(name)
        out = copy.copy(self)
        out._register = {"name": name, "description": description, "tags": tags or {}}
        return out

    def as_mount(self, *args: Any, **kwargs: Any) -> OutputFileDatasetConfig:
        """The script writes straight into the datastore folder (the only mode here)."""
        return self

    def as_upload(self, overwrite: bool = False, source_globs: Any = None
                  ) -> OutputFileDatasetConfig:
        """Same as :meth:`as_mount` here: the folder is on the datastore already."""
        return self

    def __repr__(self) -> str:
        return f"<OutputFileDatasetConfig {self.name}>"


class BoundData:
    """The datasets of one submission: decided by :func:`bind_data`, committed by
    :meth:`commit` once the submission is valid."""

    def __init__(self, workspace: Workspace, run_id: str) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.records: list[dict[str, Any]] = []
        self.downloads: list[tuple[str, str]] = []  # (snapshot id, folder)
        self.folders: list[str] = []

    def commit(self, remote: Any = None) -> None:
        """Copy downloaded inputs, make output folders and record them all.

        Raises:
            UsageError: datasets given to a run on a remote target.
        """
        if not self.records:
            return
        if remote is not None:
            raise UsageError("datasets as run inputs or outputs work on the local target only; "
                             "ship the files in the source directory for a remote target.")
        from pathlib import Path

        for snapshot_id, folder in self.downloads:
            _content.copy_out(self.workspace.paths, snapshot_id, Path(folder), overwrite=True)
        for folder in self.folders:
            Path(folder).mkdir(parents=True, exist_ok=True)
        _assets.record_run_datasets(self.workspace.store, self.run_id, self.records)


def bind_data(workspace: Workspace, config: Any, run_id: str) -> tuple[Any, BoundData]:
    """Replace dataset arguments of ``config`` by local paths; decide what to record.

    Unregistered input datasets are frozen here (content store only); nothing
    about the run is written until :meth:`BoundData.commit`.

    Returns:
        ``config`` itself when it has no dataset argument, else a copy with paths.

    Raises:
        UsageError: two inputs or outputs of one name, a bad destination.
        DatasetNotFound: an input's files are missing.
    """
    bound = BoundData(workspace, run_id)
    rc = getattr(config, "run_config", None)
    lists = [("config", getattr(config, "arguments", None)),
             ("run_config", getattr(rc, "arguments", None)),
             ("command", getattr(config, "command", None))]
    if not any(isinstance(v, list) and any(_is_data(a) for a in v) for _, v in lists):
        return config, bound
    config = copy.copy(config)
    seen: set[tuple[str, str]] = set()
    for where, values in lists:
        if not isinstance(values, list) or not any(_is_data(a) for a in values):
            continue
        new = [_bind_one(bound, a, seen) if _is_data(a) else a for a in values]
        if where == "config":
            config.arguments = new
        elif where == "command":
            config.command = new
        else:
            config.run_config = copy.copy(rc)
            config.run_config.arguments = new
    return config, bound


def _is_data(value: Any) -> bool:
    return isinstance(value, (DatasetConsumptionConfig, OutputFileDatasetConfig, DataPath)) \
        or getattr(value, "_is_dataset", False) is True


def _bind_one(bound: BoundData, value: Any, seen: set[tuple[str, str]]) -> str:
    ws = bound.workspace
    if isinstance(value, DataPath):
        return str(value.local_path())
    if getattr(value, "_is_dataset", False) is True:
        value = value.as_named_input(value.name or "input")
    if isinstance(value, DatasetConsumptionConfig):
        _once(seen, "input", value.name)
        dataset = value.dataset
        snapshot_id = dataset._freeze(ws)
        folder = str(_content.files_dir(ws.paths, snapshot_id))
        if value.mode == "download":
            folder = str(ws.paths.run_dir(bound.run_id) / INPUTS_DIR / value.name)
            bound.downloads.append((snapshot_id, folder))
        bound.records.append({
            "direction": "input", "name": value.name, "dataset": dataset.name,
            "version": dataset.version, "snapshot_id": snapshot_id, "mode": value.mode,
            "path": folder, "spec": dataset._spec})
        return folder
    output: OutputFileDatasetConfig = value
    _once(seen, "output", output.name)
    store, pattern = output.destination or (Datastore(ws), "dataset/{run-id}/{output-name}")
    if store.workspace != ws:
        raise UsageError(f"output {output.name!r}: datastore {store.name!r} belongs to another "
                         "workspace.")
    rel = check_relative(str(pattern).replace("{run-id}", bound.run_id)
                         .replace("{output-name}", output.name), "destination path")
    folder = str(store.resolve(rel, "destination path"))
    bound.folders.append(folder)
    bound.records.append({
        "direction": "output", "name": output.name, "mode": "mount", "path": folder,
        "spec": {"datastore": store.name, "path": rel, "register": output._register}})
    return folder


def _once(seen: set[tuple[str, str]], direction: str, name: str) -> None:
    if (direction, name) in seen:
        raise UsageError(f"two {direction}s of the run are named {name!r}; give each its own "
                         "name.")
    seen.add((direction, name))


def finish_outputs(workspace: Workspace, run_id: str, status: str) -> list[str]:
    """Record a run's output folders when it ends; register them if it Completed.

    Never raises: a problem with one output is recorded on it and returned.

    Returns:
        One message per output that could not be registered.
    """
    problems = []
    for record in _assets.run_datasets(workspace.store, run_id, "output"):
        spec = dict(record["spec"])
        register = spec.get("register")
        try:
            from pathlib import Path

            folder = Path(record["path"])
            folder.mkdir(parents=True, exist_ok=True)  # kept, even when left empty
            if register and status == "Completed" and record.get("dataset") is None:
                files = _content.files_under(folder)  # raises when it holds no files
                cut = len(folder.name) + 1
                info = _content.freeze(workspace.paths, folder,
                                       [(rel[cut:], path) for rel, path in files])
                dataset_spec = {"type": "file", "sources": [
                    {"kind": "datastore", "datastore": spec["datastore"],
                     "pattern": spec["path"]}]}
                row = _assets.register(
                    workspace.store, _assets.DATASET, register["name"], info.id, dataset_spec,
                    description=register.get("description"), run_id=run_id,
                    tags=register.get("tags"), properties={"runId": run_id}, if_same="new")
                record.update(dataset=row["name"], version=row["version"],
                              snapshot_id=row["snapshot_id"])
        except Exception as exc:  # noqa: BLE001 - one bad output must not stop the rest
            message = getattr(exc, "message", None) or str(exc)
            spec["error"] = message
            problems.append(f"output {record['name']!r}: {message}")
        record["spec"] = spec
        _assets.record_run_datasets(workspace.store, run_id, [record])
    return problems


def dataset_details(workspace: Any, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """``inputDatasets`` and ``outputDatasets`` of a run's details."""
    inputs, outputs = [], []
    if not hasattr(workspace, "paths"):
        return {"inputDatasets": [], "outputDatasets": []}
    for r in _assets.run_datasets(workspace.store, run_id):
        dataset = {"name": r["dataset"], "version": r["version"],
                   "snapshotId": r["snapshot_id"]}
        if r["direction"] == "input":
            inputs.append({"dataset": dataset, "consumptionDetails": {
                "type": "RunInput", "inputName": r["name"],
                "mechanism": _MECHANISM.get(r["mode"] or "", r["mode"]),
                "pathOnCompute": r["path"]}})
        else:
            item = {"dataset": dataset, "outputType": "RunOutput",
                    "outputDetails": {"outputName": r["name"]}, "path": r["path"],
                    "datastore": r["spec"].get("datastore"),
                    "pathOnDatastore": r["spec"].get("path")}
            if r["spec"].get("error"):
                item["error"] = r["spec"]["error"]
            outputs.append(item)
    return {"inputDatasets": inputs, "outputDatasets": outputs}
