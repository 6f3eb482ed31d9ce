"""Curated environments: the definitions shipped with runner (``environments/*.yml``).

They are found by name (``Environment.get(ws, "sklearn")``, ``runner submit --env
sklearn``).  In a source checkout ``runner/_curated`` is a symlink to the
top-level ``environments/`` folder; a built wheel holds real copies there
(package data ``_curated/*.yml``), so they are found after a non-editable
``pip install .`` too.  Where symlinks were not checked out, the top-level
folder next to the package is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .schema import load_yaml_file, normalize_env_dict


def curated_dir() -> Path | None:
    """The folder holding the curated ``*.yml`` files, or None if none is found."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_curated", package.parent / "environments"):
        if candidate.is_dir() and any(candidate.glob("*.yml")):
            return candidate
    return None


def curated_names() -> list[str]:
    """Names of the curated environments, sorted."""
    folder = curated_dir()
    return sorted(p.stem for p in folder.glob("*.yml")) if folder is not None else []


def load_curated(name: str) -> dict[str, Any] | None:
    """The canonical dict of curated environment ``name``, or None when there is none."""
    folder = curated_dir()
    if folder is None or not isinstance(name, str) or name not in curated_names():
        return None
    path = folder / f"{name}.yml"
    return normalize_env_dict(load_yaml_file(path), source=str(path), base_dir=folder)
