"""Compute targets as Azure ML v1 drivers name them: ``ComputeTarget``, ``AmlCompute``,
``ComputeInstance``.

A v1 notebook looks a cluster up by name and provisions it when it is missing::

    try:
        cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
        cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    cluster.wait_for_completion(show_output=True)

Here a name means one of two things. A target configured in ``.runner/config.yaml``
(``compute_targets``, e.g. a Ray cluster) is that target. Any other name is
this machine: ``ComputeTarget.create`` records the name in
``.runner/compute_targets.json`` (so a later ``ComputeTarget(ws, name)`` finds
it), prints one notice that runs on it run locally, and succeeds at once.
Nothing pretends to create a cloud resource: ``provisioning_state`` is
``"Succeeded"`` because there is nothing to provision.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..core.errors import ComputeTargetNotFound, UsageError
from .notices import notice

_FILE = "compute_targets.json"


def _recorded(workspace: Any) -> dict[str, dict[str, Any]]:
    path = workspace.paths.runner_dir / _FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(workspace: Any, name: str, entry: dict[str, Any]) -> None:
    data = _recorded(workspace)
    data[name] = entry
    path = workspace.paths.runner_dir / _FILE
    tmp = path.with_name(f".{_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def local_target_names(workspace: Any) -> list[str]:
    """Names made with ``ComputeTarget.create`` in this workspace (they run locally)."""
    return sorted(_recorded(workspace))


class ProvisioningConfiguration:
    """What ``AmlCompute.provisioning_configuration(...)`` was given; kept, not used."""

    def __init__(self, compute_type: str, **settings: Any) -> None:
        self.type = compute_type
        self.settings = settings

    def __repr__(self) -> str:
        return f"<ProvisioningConfiguration {self.type} {self.settings!r}>"


class ComputeTarget:
    """A named compute target of the workspace.

    Args:
        workspace: the workspace.
        name: a target of ``config.yaml``'s ``compute_targets``, ``"local"``, or a
            name made with :meth:`create` (those run on this machine).

    Raises:
        ComputeTargetNotFound: the name is none of these (v1's ComputeTargetException).
    """

    #: Azure ML's compute type of the target this handle stands for.
    _compute_type = "Local"

    def __init__(self, workspace: Any, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise UsageError(f"A compute target name must be a non-empty string, not {name!r}.")
        self.workspace = workspace
        self.name = name
        configured = workspace.config.compute_targets
        recorded = _recorded(workspace)
        if name in configured:
            self._configured = configured[name]
            self.type = type(self._configured).__name__
        elif name == "local" or name in recorded:
            self._configured = None
            self.type = recorded.get(name, {}).get("type", "Local")
        else:
            known = sorted({*configured, *recorded})
            raise ComputeTargetNotFound(
                f"No compute target named {name!r} in {workspace.root}; known: "
                f"{', '.join(known) or 'none'}. ComputeTarget.create(ws, {name!r}, config) "
                f"makes it (it runs on this machine), or add it under compute_targets in "
                f".runner/config.yaml.", name=name)
        self.provisioning_state = "Succeeded"
        self.provisioning_errors = None
        self.location = "local"
        self.tags: dict[str, str] = {}
        self.description = None

    @property
    def runs_locally(self) -> bool:
        """True unless the name is a target configured in ``config.yaml``."""
        return self._configured is None

    @staticmethod
    def create(workspace: Any, name: str, provisioning_configuration: Any) -> ComputeTarget:
        """Make the target ``name``: a configured one is found; any other runs locally.

        Prints one notice saying where its runs go. Calling it again for the same
        name returns the same target.
        """
        if not isinstance(name, str) or not name or name == "local":
            raise UsageError(f"A new compute target needs a name other than 'local', "
                             f"not {name!r}.")
        if name in workspace.config.compute_targets:
            notice(f"compute target {name!r} is configured in .runner/config.yaml; runs on "
                   f"it go there (nothing is provisioned).", key=f"compute:{name}")
        else:
            kind = getattr(provisioning_configuration, "type", "AmlCompute")
            _record(workspace, name, {"type": kind})
            notice(f"compute target {name!r} ({kind}) runs on this machine: nothing is "
                   f"provisioned, and runs submitted to it run locally.", key=f"compute:{name}")
        return ComputeTarget(workspace, name)

    @staticmethod
    def list(workspace: Any) -> list[ComputeTarget]:
        """Every target of the workspace: configured and created ones, by name."""
        names = sorted({*workspace.config.compute_targets, *_recorded(workspace)})
        return [ComputeTarget(workspace, n) for n in names]

    @staticmethod
    def attach(workspace: Any, name: str, attach_configuration: Any) -> ComputeTarget:
        """Same as :meth:`create`: the name runs locally unless configured."""
        return ComputeTarget.create(workspace, name, attach_configuration)

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: int = 25, is_delete_operation: bool = False
                            ) -> None:
        """Return at once: there is nothing to provision."""
        if show_output:
            print(f"{self.name}: {self.provisioning_state} (runs "
                  f"{'on this machine' if self.runs_locally else 'on the configured target'})")

    def get_status(self) -> str:
        """``"Succeeded"``."""
        return self.provisioning_state

    @property
    def status(self) -> str:
        """``"Succeeded"``."""
        return self.provisioning_state

    def refresh_state(self) -> None:
        """Nothing to refresh."""

    def serialize(self) -> dict[str, Any]:
        """The target as a dict (name, type, location, provisioning state)."""
        return {"name": self.name, "type": self.type, "location": self.location,
                "provisioningState": self.provisioning_state}

    def delete(self) -> None:
        """Forget a created name (configured targets are edited in config.yaml)."""
        data = _recorded(self.workspace)
        if data.pop(self.name, None) is not None:
            path = self.workspace.paths.runner_dir / _FILE
            path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")

    detach = delete

    def __repr__(self) -> str:
        where = "local" if self.runs_locally else "configured"
        return f"<ComputeTarget {self.name!r} {self.type} ({where})>"


class AmlCompute(ComputeTarget):
    """An Azure ML cluster name; runs on this machine unless configured."""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated",
                                   min_nodes: int = 0, max_nodes: int | None = None,
                                   idle_seconds_before_scaledown: int | None = None,
                                   **kwargs: Any) -> ProvisioningConfiguration:
        """What a cluster would be provisioned with (kept; nothing is provisioned)."""
        return ProvisioningConfiguration(
            "AmlCompute", vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes,
            max_nodes=max_nodes, idle_seconds_before_scaledown=idle_seconds_before_scaledown,
            **kwargs)

    @staticmethod
    def supported_vmsizes(workspace: Any, location: str | None = None) -> list[dict[str, Any]]:
        """One entry: this machine (its CPU count)."""
        return [{"name": "local", "vCPUs": os.cpu_count() or 1, "gpus": 0}]


class ComputeInstance(ComputeTarget):
    """An Azure ML compute instance name; runs on this machine unless configured."""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", ssh_public_access: bool = False,
                                   **kwargs: Any) -> ProvisioningConfiguration:
        """What an instance would be provisioned with (kept; nothing is provisioned)."""
        return ProvisioningConfiguration("ComputeInstance", vm_size=vm_size,
                                         ssh_public_access=ssh_public_access, **kwargs)
