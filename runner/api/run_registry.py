"""A run's part in the registry: the models registered from it, the datasets it read
and wrote.

Mixed into :class:`runner.api.run.Run`, which provides ``_id``, ``_experiment``,
``folder`` and ``get_file_names``. Standard library only (``run.input_datasets``
is called inside submitted scripts).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from ..core.errors import ArtifactNotFound, UsageError
from ..store import artifacts as _artifacts


class RunRegistry:
    """``register_model``, ``input_datasets`` and the run's dataset records."""

    _id: str
    _experiment: Any
    folder: Path

    def get_file_names(self) -> list[str]:
        raise NotImplementedError  # provided by RunFiles

    def _local_workspace(self, what: str) -> Any:
        workspace = self._experiment.workspace
        if not hasattr(workspace, "paths"):
            raise UsageError(f"{what} is not available in a run on a remote target; call it "
                             "from the driver on the run's handle after the run ends.")
        return workspace

    def register_model(self, model_name: str, model_path: str | None = None,
                       tags: dict[str, Any] | None = None,
                       properties: dict[str, Any] | None = None,
                       model_framework: str | None = None,
                       model_framework_version: str | None = None,
                       description: str | None = None, datasets: Any = None,
                       sample_input_dataset: Any = None, sample_output_dataset: Any = None,
                       resource_configuration: Any = None, **kwargs: Any) -> Any:
        """Register a file or folder among the run's files as a new model version.

        Args:
            model_name: The model's name.
            model_path: A file or folder of the run (``outputs/model.pkl``,
                ``outputs``); ``model_name`` when None, as in Azure ML.
            tags: Mutable key/values.
            properties: Add-only key/values.
            model_framework: Free text, e.g. ``"ScikitLearn"``.
            model_framework_version: Free text.
            description: Free text.
            datasets, sample_input_dataset, sample_output_dataset,
            resource_configuration: accepted for compatibility, not used.

        Returns:
            The new :class:`~runner.api.model.Model` (it records this run).

        Raises:
            ArtifactNotFound: the run has no such file or folder (the message lists
                its files).
        """
        from .model import _check_name, _register

        workspace = self._local_workspace("register_model")
        name = _check_name(model_name)
        wanted = _artifacts.artifact_name(model_path if model_path is not None else model_name)
        names = self.get_file_names()
        matches = [n for n in names if n == wanted or n.startswith(wanted + "/")]
        if not matches:
            shown = ", ".join(names[:20]) or "none"
            raise ArtifactNotFound(
                f"run {self._id} has no file or folder {wanted!r} to register as model "
                f"{name!r}; its files are: {shown}. Save the model under outputs/ (or "
                "upload it with run.upload_file) first.", name=wanted, run_id=self._id)
        parent = posixpath.dirname(wanted)
        cut = len(parent) + 1 if parent else 0
        files = [(n[cut:], self.folder / n) for n in matches]
        return _register(workspace, name, self.folder / parent if parent else self.folder,
                         files, posixpath.basename(wanted), tags=tags, properties=properties,
                         description=description, framework=model_framework,
                         framework_version=model_framework_version, run=self,
                         source=f"{self._id}/{wanted}")

    @property
    def input_datasets(self) -> dict[str, Any]:
        """The run's named inputs: ``{"train": path}`` for file datasets given with
        ``as_mount()``/``as_download()``, the dataset itself for tabular ones."""
        from ..registry import assets as _assets
        from .dataset import input_values

        workspace = self._local_workspace("input_datasets")
        return input_values(workspace, _assets.run_datasets(workspace.store, self._id, "input"))

    @property
    def output_datasets(self) -> dict[str, str]:
        """The run's named outputs: ``{"model_out": folder on its datastore}``."""
        from ..registry import assets as _assets

        workspace = self._local_workspace("output_datasets")
        return {r["name"]: r["path"] for r in
                _assets.run_datasets(workspace.store, self._id, "output")}

    def _dataset_details(self) -> dict[str, list[dict[str, Any]]]:
        from .data_io import dataset_details

        return dataset_details(self._experiment.workspace, self._id)

    def get_models(self) -> list[Any]:
        """The model versions registered from this run, newest first."""
        from .model import Model

        return Model.list(self._local_workspace("get_models"), run_id=self._id)
