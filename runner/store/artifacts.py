"""Files of a run: the rules for artifact names and the copying in and out.

A run's files are what is under ``outputs/`` and ``logs/`` of its folder plus
every file uploaded by name (recorded in the store, write-once). Names are
relative, use ``/`` and never leave the run folder.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from pathlib import Path
from typing import IO, Any

from ..core.errors import ArtifactError

#: Folders of a run folder whose files are part of the record as they are.
RECORD_FOLDERS = ("outputs", "logs")

_DRIVE = re.compile(r"^[A-Za-z]:")


def artifact_name(name: Any) -> str:
    """Normalize an artifact name, or raise if it could escape the run folder.

    ``./outputs\\model.pkl`` becomes ``outputs/model.pkl``; absolute paths,
    drive letters, ``..`` parts and empty names are errors.
    """
    if not isinstance(name, str) or not name.strip():
        raise ArtifactError(f"artifact name must be a non-empty string, not {name!r}.")
    raw = name.replace("\\", "/")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ArtifactError(
            f"artifact name {name!r} is absolute; give a path relative to the run, "
            "e.g. 'outputs/model.pkl'.",
            name=name,
        )
    if "\x00" in raw or any(part == ".." for part in raw.split("/")):
        raise ArtifactError(
            f"artifact name {name!r} leaves the run folder ('..' is not allowed); give a "
            "path relative to the run, e.g. 'outputs/model.pkl'.",
            name=name,
        )
    norm = posixpath.normpath(raw)
    if norm in (".", "") or norm.startswith("../"):
        raise ArtifactError(f"artifact name {name!r} names no file.", name=name)
    return norm


def record_files(run_dir: Path) -> list[str]:
    """Names of the files under the record folders (hidden files skipped)."""
    names: list[str] = []
    for folder in RECORD_FOLDERS:
        base = run_dir / folder
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(run_dir).as_posix()
            names.extend(f"{rel}/{f}" for f in filenames if not f.startswith("."))
    return names


def write_new(dest: Path, source: str | os.PathLike[str] | IO[Any]) -> None:
    """Copy ``source`` (a path or a readable stream) to ``dest``, which must not exist."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.part"
    try:
        if hasattr(source, "read"):
            with open(tmp, "wb") as out:
                data = source.read()  # type: ignore[union-attr]
                out.write(data.encode() if isinstance(data, str) else data)
        else:
            shutil.copyfile(os.fspath(source), tmp)
        os.link(tmp, dest)  # fails if dest exists: never overwrite
    except FileExistsError:
        raise ArtifactError(
            f"a file already exists at {dest}; artifacts are write-once.", path=str(dest)
        ) from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def copy_tree_new(source: Path, dest: Path) -> list[str]:
    """Copy files of ``source`` into ``dest`` that are not there yet; return their names."""
    copied = []
    for dirpath, _dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        for filename in filenames:
            target = dest / rel / filename
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath) / filename, target)
            copied.append((rel / filename).as_posix())
    return copied
