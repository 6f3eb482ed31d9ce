"""The Azure ML v1 face of a workspace: the attributes v1 drivers read.

A v1 driver opens its workspace with ``Workspace.from_config()``,
``Workspace(subscription_id, resource_group, workspace_name)`` or
``Workspace.get(name, ...)`` and then prints ``ws.name``, ``ws.location``,
``ws.resource_group`` and ``ws.subscription_id``. All of them open the local
workspace (found as ``from_config`` finds it), and the attributes have these
values, documented in the README:

==================  ====================================================
``name``            the ``workspace_name`` given, else the folder's name
``subscription_id`` the ``subscription_id`` given, else ``"local"``
``resource_group``  the ``resource_group`` given, else ``"local"``
``location``        ``"local"``
``get_details()``   a dict of those, plus ``id`` (the folder) and ``sku``
``environments``    ``{name: Environment}``: registered and curated
``experiments``     ``{name: Experiment}``
``compute_targets`` ``{name: ComputeTarget}``: config.yaml's and created ones
==================  ====================================================

``datastores`` and ``get_default_datastore`` belong to the data layer and are
not defined here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LOCAL = "local"


class WorkspaceV1:
    """Mixin of :class:`runner.Workspace`: v1's attributes (see the module docstring)."""

    root: Path
    _v1: dict[str, str | None]

    @property
    def subscription_id(self) -> str:
        """The ``subscription_id`` given when opening, else ``"local"``."""
        return self._v1.get("subscription_id") or LOCAL

    @property
    def resource_group(self) -> str:
        """The ``resource_group`` given when opening, else ``"local"``."""
        return self._v1.get("resource_group") or LOCAL

    @property
    def location(self) -> str:
        """``"local"``: the workspace is a folder on this machine."""
        return self._v1.get("location") or LOCAL

    @property
    def sku(self) -> str:
        """``"local"``."""
        return LOCAL

    @property
    def tags(self) -> dict[str, str]:
        """No tags: ``{}``."""
        return {}

    def get_details(self) -> dict[str, Any]:
        """The workspace as v1's ``get_details()`` keys name it."""
        return {"id": str(self.root), "name": self.name, "location": self.location,
                "subscriptionId": self.subscription_id, "resourceGroup": self.resource_group,
                "type": "Local", "sku": self.sku, "friendlyName": self.name,
                "workspaceid": str(self.root), "provisioningState": "Succeeded",
                "tags": {}, "description": ""}

    @property
    def environments(self) -> dict[str, Any]:
        """``{name: Environment}``: registered (latest version) and curated ones."""
        from .environment import Environment

        return Environment.list(self)

    @property
    def experiments(self) -> dict[str, Any]:
        """``{name: Experiment}`` of every experiment of the workspace."""
        from .experiment import Experiment

        return {e.name: e for e in Experiment.list(self)}  # type: ignore[arg-type]

    @property
    def compute_targets(self) -> dict[str, Any]:
        """``{name: ComputeTarget}``: targets of ``config.yaml`` and created ones."""
        from .compute import ComputeTarget

        return {t.name: t for t in ComputeTarget.list(self)}

    def write_config(self, path: str | os.PathLike[str] | None = None,
                     file_name: str | None = None) -> str:
        """Write ``<path>/.azureml/config.json`` as v1 does (names above) and return its path.

        It names this workspace's folder too (``runner_workspace``), for tools that look.
        """
        folder = Path(path or ".") / ".azureml"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (file_name or "config.json")
        data = {"subscription_id": self.subscription_id,
                "resource_group": self.resource_group, "workspace_name": self.name,
                "runner_workspace": str(self.root)}
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return str(target)

    def get_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this workspace (``runner:<folder>``; the
        ``mlflow`` extra makes MLflow log into it)."""
        return f"runner:{self.root}"

    def get_run(self, run_id: str) -> Any:
        """The run ``run_id`` (as ``Run.get(ws, run_id)``)."""
        from .run import Run

        return Run.get(self, run_id)  # type: ignore[arg-type]


def v1_names(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, str | None] | None:
    """The v1 names of a ``Workspace(...)`` call, or None when it names a folder.

    ``Workspace(subscription_id, resource_group, workspace_name, ...)`` (positional
    or by keyword) is the v1 form; ``Workspace(path)`` is runner's.
    """
    names = ("subscription_id", "resource_group", "workspace_name")
    given = dict(zip(names, args))
    for name in names:
        if name in kwargs:
            given[name] = kwargs[name]
    if len(args) < 2 and not ({"resource_group", "workspace_name", "subscription_id"}
                              & set(kwargs)):
        return None
    return {"subscription_id": given.get("subscription_id"),
            "resource_group": given.get("resource_group"),
            "workspace_name": given.get("workspace_name"),
            "location": kwargs.get("location") or kwargs.get("_location")}


class LocalAuthentication:
    """v1's credential classes (``InteractiveLoginAuthentication``, ...): accepted, unused.

    Nothing here talks to Azure, so there is nothing to log in to.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.settings = kwargs

    def get_authentication_header(self) -> dict[str, str]:
        """No header: ``{}``."""
        return {}
