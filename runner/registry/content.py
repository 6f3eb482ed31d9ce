"""Files of registered assets: frozen as snapshots, listed and copied back out.

Why it exists: a model or dataset version must keep the bytes it was registered
with, whatever happens to the folder it came from later, and registering the same
bytes twice must cost no space. The snapshot store already does both (one blob per
distinct content, a snapshot folder of hard links, an id from the manifest), so an
asset's files are a snapshot whose selection is given by the caller instead of
walked with ignore rules: every file named is kept (no ``.gitignore``, no size
limit), symlinks are followed and their targets' bytes stored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..core.errors import NotFoundError, UsageError
from ..core.paths import WorkspacePaths
from ..snapshot import snapshots as _snapshots


def files_under(path: Path) -> list[tuple[str, Path]]:
    """The regular files of ``path`` (a file or a folder), named relative to its parent.

    A file ``a/model.pkl`` is ``model.pkl``; a folder ``a/outputs`` gives
    ``outputs/...``, so an asset keeps the name it was registered under.

    Raises:
        NotFoundError: ``path`` does not exist, or is a folder without files.
    """
    if not path.exists():
        raise NotFoundError(f"{str(path)!r} does not exist; give an existing file or folder.",
                            path=str(path))
    if path.is_file():
        return [(path.name, path)]
    found = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames.sort()
        rel = Path(dirpath).relative_to(path.parent).as_posix()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_file():
                found.append((f"{rel}/{name}", full))
    if not found:
        raise NotFoundError(f"folder {str(path)!r} holds no files; there is nothing to register.",
                            path=str(path))
    return found


def freeze(paths: WorkspacePaths, base: Path,
           files: list[tuple[str, Path]]) -> _snapshots.SnapshotInfo:
    """Store ``files`` (relative name, path) as a snapshot and return it.

    Args:
        paths: The workspace.
        base: The folder the names are relative to (names the stat cache).
        files: What to keep; names are posix, relative, unique.

    Raises:
        NotFoundError: A file is missing or is not a regular file (nothing is written).
        UsageError: Two files have the same name.
    """
    entries = []
    seen: set[str] = set()
    total = 0
    for rel, path in files:
        if rel in seen:
            raise UsageError(f"two files would be stored as {rel!r}; give distinct files.",
                             name=rel)
        seen.add(rel)
        try:
            st = os.stat(path)
        except OSError as exc:
            raise NotFoundError(f"cannot read {str(path)!r}: {exc.strerror or exc}.",
                                path=str(path)) from exc
        if not stat.S_ISREG(st.st_mode):
            raise NotFoundError(f"{str(path)!r} is not a regular file.", path=str(path))
        # The real path: the store reads without following links (a link's target is
        # what a dataset or model means).
        entries.append(_snapshots.FileEntry(rel, os.path.realpath(path), st.st_size, "file",
                                            bool(st.st_mode & 0o100), None, st.st_mtime_ns,
                                            st.st_ino, st.st_ctime_ns))
        total += st.st_size
    entries.sort()
    selection = _snapshots.Selection(Path(os.path.realpath(base)), entries, [], [], total)
    info = _snapshots.store_selection(paths, selection)
    if info.ignored:  # a file became unreadable between the stat and the read
        rel, why = info.ignored[0]
        raise NotFoundError(f"cannot read {rel!r} ({why}); nothing was registered.", name=rel)
    return info


def files_dir(paths: WorkspacePaths, snapshot_id: str) -> Path:
    """The read-only folder holding a snapshot's files (hard links to blobs)."""
    return paths.snapshot_dir(snapshot_id) / _snapshots.FILES_DIR


def list_files(paths: WorkspacePaths, snapshot_id: str) -> list[dict[str, object]]:
    """``[{"path": ..., "size": ...}]`` of a snapshot's files, by path."""
    manifest = _snapshots.load_manifest(paths, snapshot_id)
    return [{"path": e["path"], "size": e.get("size", 0)} for e in manifest["entries"]
            if e["kind"] == "file"]


def copy_out(paths: WorkspacePaths, snapshot_id: str, dest: Path, overwrite: bool) -> list[Path]:
    """Write writable copies of a snapshot's files under ``dest``; return the paths.

    Raises:
        UsageError: A file exists already and ``overwrite`` is False (nothing is written).
    """
    names = [str(f["path"]) for f in list_files(paths, snapshot_id)]
    if not overwrite:
        taken = [n for n in names if (dest / n).exists()]
        if taken:
            shown = ", ".join(taken[:5]) + (" ..." if len(taken) > 5 else "")
            raise UsageError(f"{len(taken)} file(s) exist already in {str(dest)!r} ({shown}); "
                             "pass overwrite=True (exist_ok=True for a model) or choose "
                             "another folder.", path=str(dest))
    _snapshots.materialize(paths, snapshot_id, dest)
    return [dest / n for n in names]
