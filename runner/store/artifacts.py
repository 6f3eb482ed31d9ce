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
from collections.abc import Iterator
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


def check_inside(run_dir: Path, name: str) -> None:
    """Raise if writing ``name`` under ``run_dir`` would go through a symlink out of it.

    ``name`` is already normalized (:func:`artifact_name`); a folder of the run
    that is a symlink to elsewhere (``lnk -> /tmp``) must not carry a write there.
    """
    root = os.path.realpath(run_dir)
    parent = os.path.realpath(os.path.join(root, posixpath.dirname(name) or "."))
    target = os.path.join(root, name)
    if os.path.islink(target) or os.path.commonpath([root, parent]) != root:
        raise ArtifactError(
            f"artifact name {name!r} leads out of the run folder through a symlink "
            f"(to {parent if not os.path.islink(target) else os.path.realpath(target)}); "
            "upload under a name whose folders are real folders of the run.",
            name=name,
        )


def walk(top: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` without recursion, so a very deep tree raises no RecursionError.

    Top-down; symlinks to folders are listed as files and not followed; the
    caller may prune ``dirnames`` in place as with ``os.walk``.
    """
    stack = [os.fspath(top)]
    while stack:
        path = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    (dirs if is_dir else files).append(entry.name)
        except OSError:
            continue
        yield path, dirs, files
        stack.extend(os.path.join(path, d) for d in reversed(dirs))


def remove_tree(top: Path) -> None:
    """``shutil.rmtree`` without recursion (Python before 3.12 recurses per level)."""
    for path, _dirs, files in list(walk(top)):
        for name in files:
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
    for path, _dirs, _files in reversed(list(walk(top))):
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass


def record_files(run_dir: Path) -> list[str]:
    """Names of the files under the record folders (hidden files skipped)."""
    names: list[str] = []
    for folder in RECORD_FOLDERS:
        base = run_dir / folder
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, run_dir).replace(os.sep, "/")
            names.extend(f"{rel}/{f}" for f in filenames if not f.startswith("."))
    return names


def make_dirs(path: str | os.PathLike[str]) -> None:
    """``os.makedirs(path, exist_ok=True)`` without recursion (it recurses per missing level)."""
    missing = []
    head = os.fspath(path)
    while head and not os.path.isdir(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise


def write_new(dest: Path, source: str | os.PathLike[str] | IO[Any]) -> None:
    """Copy ``source`` (a path or a readable stream) to ``dest``, which must not exist."""
    make_dirs(dest.parent)
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
    for dirpath, _dirnames, filenames in walk(source):
        rel = Path(os.path.relpath(dirpath, source))
        for filename in filenames:
            target = dest / rel / filename
            if target.exists():
                continue
            make_dirs(target.parent)
            shutil.copy2(Path(dirpath) / filename, target)
            copied.append((rel / filename).as_posix())
    return copied
