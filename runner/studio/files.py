"""A run's files, logs and snapshot for the studio, served only from inside their folders.

Why it exists: every byte the studio sends from disk goes through here, so the
rules that keep it inside a run's folder or a snapshot are in one place and
tested against ``..``, encoded ``..``, absolute paths and symlinks that lead
out (:func:`inside`). A run's file must also be one of
``Run.get_file_names()`` (outputs/, logs/, uploads: never the run's private
``.sys/``), and a snapshot's file a regular file of its manifest. Standard
library only.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ArtifactNotFound, NotFoundError
from .queries import get_run

if TYPE_CHECKING:
    from ..api.workspace import Workspace

#: Bytes of a log sent before the live tail starts (the rest is a download).
LOG_HEAD_LIMIT = 1024 * 1024
#: A text file of a snapshot larger than this is offered as a download only.
TEXT_VIEW_LIMIT = 2 * 1024 * 1024

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif", ".bmp": "image/bmp", ".webp": "image/webp",
                ".svg": "image/svg+xml", ".tif": "image/tiff", ".tiff": "image/tiff"}


def inside(base: Path, rel: str) -> Path:
    """The real path of ``rel`` under ``base``, refusing anything that leaves it.

    Refused: absolute paths, ``..`` parts, NUL, backslashes, and any path whose
    real location (symlinks resolved) is not inside ``base``'s real location.

    Raises:
        NotFoundError: the path is refused or names no regular file.
    """
    refused = NotFoundError(f"no file {rel!r} here.", path=rel)
    if (not rel or "\x00" in rel or "\\" in rel or rel.startswith("/")
            or any(part in ("..", "") for part in rel.split("/"))):
        raise refused
    root = os.path.realpath(base)
    real = os.path.realpath(os.path.join(root, posixpath.normpath(rel)))
    if os.path.commonpath([root, real]) != root or real == root or not os.path.isfile(real):
        raise refused
    return Path(real)


def files(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """The run's files (outputs/, logs/, uploads) with their sizes.

    A symlink that leads out of the run's folder (or nowhere) cannot be downloaded
    (:func:`inside` refuses it), so it is listed as a link: ``{"name", "link": target}``
    with no size, and the page shows it as ``name → target``.
    """
    run = get_run(ws, run_id)
    out = []
    for name in run.get_file_names():
        try:
            path = inside(run.folder, name)
        except NotFoundError:
            link = _link_target(run.folder, name)
            if link is not None:
                out.append({"name": name, "size": None, "image": False, "link": link})
            continue
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        out.append({"name": name, "size": size, "image": image_type(name) is not None})
    return out


def _link_target(base: Path, name: str) -> str | None:
    """Where the first symlink on the way to ``base/name`` points, or None."""
    current = base
    for part in name.split("/"):
        current = current / part
        if current.is_symlink():
            try:
                return os.readlink(current)
            except OSError:
                return None
    return None


def run_file(ws: Workspace, run_id: str, name: str) -> Path:
    """The path of the run's file ``name``, only if it is one of its files.

    Raises:
        ArtifactNotFound: not a file of the run, or outside its folder.
    """
    run = get_run(ws, run_id)
    if name not in run.get_file_names():
        raise ArtifactNotFound(f"run {run_id} has no file {name!r}.", run_id=run_id, name=name)
    try:
        return inside(run.folder, name)
    except NotFoundError:
        raise ArtifactNotFound(f"run {run_id} has no file {name!r}.", run_id=run_id,
                               name=name) from None


def image_type(name: str) -> str | None:
    """The media type of an image file name, or None when it is not one."""
    return _IMAGE_TYPES.get(posixpath.splitext(name)[1].lower())


def log_start(path: Path) -> int:
    """Where the live log of a run starts: 0, or the last :data:`LOG_HEAD_LIMIT` bytes."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    return max(0, size - LOG_HEAD_LIMIT)


def log_tail(ws: Workspace, run_id: str, lines: int = 50) -> list[str]:
    """The last ``lines`` lines of the run's ``logs/std_log.txt``."""
    from ..execution.logs import read_text

    run = get_run(ws, run_id)
    path = run.folder / "logs" / "std_log.txt"
    try:
        size = path.stat().st_size
    except OSError:
        return []
    if size > LOG_HEAD_LIMIT:
        with open(path, "rb") as f:
            f.seek(size - LOG_HEAD_LIMIT)
            text = f.read().decode("utf-8", errors="replace")
    else:
        text = read_text(path)
    return text.splitlines()[-lines:] if lines > 0 else []


# ------------------------------------------------------------------------ snapshot


def snapshot(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The run's snapshot as a list of entries (path, kind, size, exec, target).

    Raises:
        NotFoundError: the run has no snapshot.
    """
    from ..snapshot.snapshots import load_manifest

    snapshot_id = get_run(ws, run_id).get_snapshot_id()
    if not snapshot_id:
        raise NotFoundError(f"run {run_id} has no snapshot.", run_id=run_id)
    manifest = load_manifest(ws.paths, snapshot_id)
    entries = [
        {"path": e["path"], "kind": e["kind"], "size": e.get("size"),
         "exec": bool(e.get("exec")), "target": e.get("target")}
        for e in manifest.get("entries", [])
    ]
    return {"id": snapshot_id, "entries": entries, "files": manifest.get("files"),
            "bytes": manifest.get("bytes")}


def snapshot_file(ws: Workspace, run_id: str, path: str) -> Path:
    """The stored file ``path`` of the run's snapshot (regular files of the manifest only).

    Raises:
        NotFoundError: no such file in the snapshot, or the path leaves it.
    """
    from ..snapshot.snapshots import FILES_DIR, load_manifest

    snapshot_id = get_run(ws, run_id).get_snapshot_id()
    if not snapshot_id:
        raise NotFoundError(f"run {run_id} has no snapshot.", run_id=run_id)
    manifest = load_manifest(ws.paths, snapshot_id)
    if not any(e["path"] == path and e["kind"] == "file" for e in manifest.get("entries", [])):
        raise NotFoundError(f"snapshot {snapshot_id} has no file {path!r}.", path=path)
    return inside(ws.paths.snapshot_dir(snapshot_id) / FILES_DIR, path)


def is_text(path: Path) -> bool:
    """True for a file small enough to show that decodes as UTF-8 with no NUL."""
    try:
        if path.stat().st_size > TEXT_VIEW_LIMIT:
            return False
        data = path.read_bytes()
        data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return b"\x00" not in data
