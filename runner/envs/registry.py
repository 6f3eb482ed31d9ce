"""Registered environments: versioned definitions stored as YAML files in the workspace.

::

    .runner/environments/<name>/<version>.yml     one file per version, never rewritten

Azure ML kept registered environments in the workspace service; here a
registration is a file in the project's own schema (see
``environments/README.md``), so it can be read, diffed and copied.  Versions
are ``"1"``, ``"2"``...; each file is written to a temporary name and renamed
into place under ``locks/env-registry.lock``, so a reader never sees half a
definition and two registrations never get the same version.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from ..core.errors import EnvironmentNotFound, EnvironmentSpecError
from ..core.paths import WorkspacePaths
from .lock import FileLock
from .schema import load_yaml_file, normalize_env_dict

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVED_PREFIXES = ("azureml", "microsoft")


def registry_dir(paths: WorkspacePaths) -> Path:
    """The folder holding registered environments."""
    return paths.runner_dir / "environments"


def check_name(name: Any) -> str:
    """Return ``name`` if it can be registered.

    Raises:
        EnvironmentSpecError: not a valid file-system-safe name, or a reserved prefix.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise EnvironmentSpecError(
            f"Environment name {name!r} cannot be registered: use letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit (at most 255 characters).", name=name)
    if name.lower().startswith(RESERVED_PREFIXES):
        raise EnvironmentSpecError(
            f"Environment name {name!r} starts with a reserved prefix (AzureML, Microsoft are "
            f"kept for curated environments). Choose another name.", name=name)
    return name


def _version_key(version: str) -> tuple:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def versions(paths: WorkspacePaths, name: str) -> list[str]:
    """Registered versions of ``name``, oldest first (numeric order)."""
    folder = registry_dir(paths) / name
    try:
        found = [p.stem for p in folder.glob("*.yml") if not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(found, key=_version_key)


def names(paths: WorkspacePaths) -> list[str]:
    """Names with at least one registered version, sorted."""
    root = registry_dir(paths)
    try:
        return sorted(p.name for p in root.iterdir() if p.is_dir() and versions(paths, p.name))
    except OSError:
        return []


def load(paths: WorkspacePaths, name: str, version: str | None = None) -> dict[str, Any] | None:
    """The canonical dict of a registered environment (latest version by default), or None.

    Raises:
        EnvironmentNotFound: ``name`` is registered but not in ``version``.
        EnvironmentSpecError: the stored file is damaged.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None
    found = versions(paths, name)
    if not found:
        return None
    if version is None:
        version = found[-1]
    elif str(version) not in found:
        raise EnvironmentNotFound(
            f"Environment {name!r} has no version {version!r}; registered versions: "
            f"{', '.join(found)}. Call Environment.get(ws, {name!r}) for the latest.",
            name=name, version=str(version))
    path = registry_dir(paths) / name / f"{version}.yml"
    data = normalize_env_dict(load_yaml_file(path), source=str(path))
    data["version"] = str(version)
    return data


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {**a, "version": None} == {**b, "version": None}


def register(paths: WorkspacePaths, data: dict[str, Any]) -> dict[str, Any]:
    """Store a canonical environment dict as a new version.

    A preset ``version`` is used as given; registering the same definition
    under an existing version returns it, a different one is refused.

    Returns:
        The stored dict, ``version`` set.

    Raises:
        EnvironmentSpecError: invalid name or version, or the version exists with
            another definition.
    """
    import yaml

    name = check_name(data.get("name"))
    preset = data.get("version")
    if preset is not None and not _VERSION_RE.match(str(preset)):
        raise EnvironmentSpecError(
            f"Environment version {preset!r} is not valid: use letters, digits, '.', '_', '-'; "
            f"or leave env.version as None to get the next number.", version=preset)
    folder = registry_dir(paths) / name
    with FileLock(paths.locks / "env-registry.lock"):
        existing = versions(paths, name)
        if preset is not None:
            version = str(preset)
            if version in existing:
                stored = load(paths, name, version)
                if stored is not None and _same(stored, data):
                    return stored
                raise EnvironmentSpecError(
                    f"Environment {name!r} version {version} is already registered with a "
                    f"different definition. Leave env.version = None to register version "
                    f"{_next(existing)}.", name=name, version=version)
        else:
            version = _next(existing)
        stored = {**data, "version": version}
        text = yaml.safe_dump(stored, sort_keys=False, default_flow_style=False)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{version}.yml.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / f"{version}.yml")
    logger.info("registered environment %s version %s", name, version)
    return stored


def _next(existing: list[str]) -> str:
    numbers = [int(v) for v in existing if v.isdigit()]
    return str(max(numbers, default=0) + 1)
