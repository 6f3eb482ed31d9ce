"""Compute targets other than this machine.

A run's ``compute_target`` is ``"local"`` (the default: a supervised process
here), a target object (:class:`~runner._targets.ray.RayCluster`), or the name
of a target in ``config.yaml``'s ``compute_targets``. :func:`resolve_target`
decides which; the submit path then hands a remote run to its target, whose
owner process (the counterpart of the local supervisor) drives the run from
Queued to its end and writes the same record a local run gets.

Only the standard library is imported here; each target imports what it needs.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError, UsageError

LOCAL = "local"

#: ``type:`` values of ``compute_targets`` entries.
TYPES = ("ray",)


def targets_from_config(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Validate ``compute_targets`` of ``config.yaml`` into ``{name: target}``.

    Raises:
        ConfigError: a name, a type or a setting of an entry is invalid.
    """
    out: dict[str, Any] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not name or name == LOCAL:
            raise ConfigError(
                f"compute_targets in {source}: {name!r} cannot name a target "
                f"({LOCAL!r} is this machine); use another name.", key="compute_targets",
                path=source)
        if not isinstance(entry, dict):
            raise ConfigError(
                f"compute_targets.{name} in {source} must be a mapping with a 'type' "
                f"(one of: {', '.join(TYPES)}), not {type(entry).__name__}.",
                key=f"compute_targets.{name}", path=source)
        kind = entry.get("type")
        if kind == "ray":
            from .ray import RayCluster

            out[name] = RayCluster.from_config(name, entry, source)
        else:
            raise ConfigError(
                f"compute_targets.{name} in {source} has type {kind!r}; known types: "
                f"{', '.join(TYPES)}.", key=f"compute_targets.{name}.type", path=source)
    return out


def resolve_target(value: Any, configured: dict[str, Any] | None) -> Any:
    """What a run's ``compute_target`` means: ``"local"`` or a target object.

    Args:
        value: ``None``/``"local"``, a target object, a configured name, or an object
            with a ``name`` (as Azure ML's ComputeTarget handles have).
        configured: the workspace's ``compute_targets``.

    Raises:
        UsageError: a name no target of the workspace has.
    """
    if value is None or value == LOCAL:
        return LOCAL
    if getattr(value, "is_compute_target", False):
        return value
    name = value if isinstance(value, str) else getattr(value, "name", None)
    if name == LOCAL:
        return LOCAL
    known = configured or {}
    if isinstance(name, str) and name in known:
        return known[name]
    names = ", ".join(sorted(known)) or "none configured"
    raise UsageError(
        f"compute target {value!r} is not known; use 'local' (the default), a "
        f"RayCluster(...), or a name from compute_targets in .runner/config.yaml "
        f"({names}).", target=str(value))
