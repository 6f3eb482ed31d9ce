"""Curated environments: the definitions shipped with runner (``environments/*.yml``).

They are found by name (``Environment.get(ws, "sklearn")``, ``runner submit --env
sklearn``).  In a source checkout ``runner/_curated`` is a symlink to the
top-level ``environments/`` folder; a built wheel holds real copies there
(package data ``_curated/*.yml``), so they are found after a non-editable
``pip install .`` too.  Where symlinks were not checked out, the top-level
folder next to the package is used.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from .schema import load_yaml_file, normalize_env_dict

#: Azure ML curated families (``azure_curated``) -> runner's curated definition of the
#: same intent. Other families are built from their packages, unpinned.
AZURE_FAMILIES = {"minimal": "minimal", "sklearn": "sklearn", "tutorial": "sklearn",
                  "pytorch": "pytorch-cpu", "acpt": "pytorch-cpu"}


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
    return _load(folder, name)


@functools.lru_cache(maxsize=32)
def _cached(folder: Path, name: str, mtime: int) -> dict[str, Any]:
    path = folder / f"{name}.yml"
    return normalize_env_dict(load_yaml_file(path), source=str(path), base_dir=folder)


def _load(folder: Path, name: str) -> dict[str, Any]:
    import copy

    mtime = (folder / f"{name}.yml").stat().st_mtime_ns
    return copy.deepcopy(_cached(folder, name, mtime))


def azure_curated_names() -> list[str]:
    """The Azure ML curated environment names runner resolves (canonical spelling)."""
    from .azure_curated import AZURE_CURATED

    return sorted((e["name"] for e in AZURE_CURATED.values()), key=str.lower)


def load_azure_curated(name: str) -> tuple[dict[str, Any], str] | None:
    """An Azure ML curated name (any case) as a canonical dict, and what it maps to.

    ``AzureML-sklearn-0.24-ubuntu18.04-py37-cpu`` is runner's ``sklearn``;
    a family runner has no definition for (TensorFlow, LightGBM...) is built from
    the family's packages, unpinned. The dict is named as Azure names it. Returns
    None for a name Azure did not curate.
    """
    from .azure_curated import lookup

    entry = lookup(name) if isinstance(name, str) else None
    if entry is None:
        return None
    target = AZURE_FAMILIES.get(entry["framework"])
    data = load_curated(target) if target else None
    if data is not None:
        how = f"runner's curated environment {target!r}"
    else:
        packages = list(entry["packages"])
        data = normalize_env_dict({"name": entry["name"], "version": "1",
                                   "python": {"pip": packages}})
        how = ("its packages, unpinned: " + ", ".join(packages)) if packages else \
            "an empty environment"
    data["name"] = entry["name"]
    return data, (f"Azure ML curated environment {entry['name']!r} maps to {how} "
                  f"(Azure used Python {entry['python']}; runner uses the Python it runs on).")
