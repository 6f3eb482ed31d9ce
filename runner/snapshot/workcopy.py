"""A run's working copy of its snapshot: hard links to read-only blobs where that is safe.

Why it exists: copying a 5,000-file, 100 MB tree for every run costs as much as
``cp -r``; linking it costs one ``link()`` per file. A hard link shares the
blob's inode, so the blob must not be writable through it: blobs are mode
0o444, which the kernel enforces for ordinary users but not for root (or any
process with CAP_DAC_OVERRIDE). So the choice is made by asking the kernel
(``access(2)``), and where the mode protects nothing the run gets real copies
(reflinks where the filesystem has them).

What a script sees in a linked working copy: every file readable; deleting,
renaming or writing a new file over a name works (the new file is the run's
own); opening a snapshot file for writing in place fails with PermissionError
("Permission denied"), as it would for any read-only file. Executable files are
always copied (a link would share the blob's mode, without the executable bit).
A script that means to edit its files in place can copy them first
(``shutil.copy(src, src + ".tmp"); os.replace(...)``).
"""

from __future__ import annotations

import os
import stat

from ..core.paths import WorkspacePaths
from .blobs import write_atomic
from .snapshots import materialize, write_snapshot


def blobs_are_protected(paths: WorkspacePaths) -> bool:
    """True when this process cannot write a read-only blob (so a hard link is safe).

    Blobs are mode 0o444, which stops a write by their owner but not by root or
    any process with CAP_DAC_OVERRIDE: those get copies. Asked of the kernel
    (``access(2)`` on a read-only file in the store), not guessed from the uid.
    """
    probe = paths.blobs / ".protected"
    try:
        if not probe.exists():
            probe.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(probe, "a read-only file: can this process write it?\n",
                               paths.tmp)
            os.chmod(probe, 0o444)
        return stat.S_IMODE(os.stat(probe).st_mode) & 0o222 == 0 and \
            not os.access(probe, os.W_OK)
    except OSError:
        return False


#: ``config.yaml`` ``working_copy`` values: ``copy`` (the default: every file is the
#: run's own, as in Azure ML v1) or ``link`` (hard links where that is safe).
MODES = ("copy", "link")


def working_copy(paths: WorkspacePaths, snapshot_id: str,
                 dest_dir: str | os.PathLike[str], mode: str = "copy") -> str:
    """Make a run's working copy of a snapshot in ``dest_dir``; returns ``link`` or ``copy``.

    With ``mode="copy"`` (the default) every file is a real copy (reflinks where
    the filesystem has them): a script may edit its files in place, as it could
    in Azure ML v1. ``mode="link"`` asks for the linked copy described below.

    Where blobs are protected by their mode (:func:`blobs_are_protected`), every
    file that is not executable is a hard link to its read-only blob: the copy of
    an unchanged 5,000-file tree costs one ``link()`` per file and no data. A
    script may read those files, delete, rename or replace them (a new file
    written over the name is its own), but opening one for writing in place
    fails with PermissionError, so the stored snapshot cannot change.
    Executable files, and every file where blobs are not protected (root),
    are real copies (reflinks where the filesystem has them), as
    :func:`materialize` makes.

    Raises:
        NotFoundError: No snapshot has this id.
        SnapshotError: The copy failed (the message names the folder).
    """
    if mode not in MODES:
        raise ValueError(f"working copy mode must be one of {MODES}, not {mode!r}")
    if mode == "copy" or not blobs_are_protected(paths):
        materialize(paths, snapshot_id, dest_dir)
        return "copy"
    write_snapshot(paths, snapshot_id, dest_dir, link=True)
    return "link"
