"""Reusing a run's working copy for the next run of its snapshot, when it is provably untouched.

Why it exists: with the default ``working_copy: copy`` every run gets its own
writable copy of its snapshot. Making one of a 5,000-file, 100 MB tree and
removing it after the run costs more than ``cp -r`` of the tree, far more than
running a short script. Most runs never write their source files, so at the end
of a run its copy is usually still exactly the snapshot: then the copy is kept
in a pool and the next run of the same snapshot takes it with a few renames.

"Exactly the snapshot" is decided from facts a process cannot fake cheaply.
Right after the copy is made, every file, symlink and folder's (inode, size,
ctime, mode, link count) is recorded in the supervisor's memory. Writing,
truncating, chmod-ing, linking or renaming a file sets its ctime to the current
time (the kernel does; no call sets it back), and adding, removing or renaming
an entry of a folder sets the folder's. So at the end of the run a copy whose
facts are all unchanged, whose folders list exactly the snapshot's names (the
run folder itself may hold more: ``outputs/``, ``logs/``, ``.sys/`` and what the
script wrote there stay where they are) and whose files have one link each has
not been written, chmod-ed, replaced or linked elsewhere. Its processes have
ended by then (the supervisor ends the script's whole tree first).

One trap: the kernel stamps ctime from a coarse clock (a few ms a tick), so a
write in the same tick as the copy would keep its ctime. Facts are only trusted
once a probe file touched after recording them shows a later ctime
(:func:`_settle`); where that takes long (coarse timestamps), nothing is pooled.

The pool, under ``WorkspacePaths.workcopies``::

    <sid>-<uid>-<umask>-<time_ns>-<pid>-<bytes>/   one pristine copy:
        FACTS.marshal                               its recorded facts
        tree/...                                    the copy's top-level entries
    .tmp-<pid>-<token>/     being filled; renamed to its entry name when complete
    .take-<pid>-<token>/    claimed (by a run, or to be deleted)

A run claims an entry with one ``rename`` to a ``.take-`` name, so of two runs
only one gets it (the other makes a fresh copy), and an entry appears only when
its complete ``.tmp-`` folder is renamed, so a crash never hands out a
half-moved copy. Leftovers of dead processes are deleted the next time a copy
is pooled. The pool keeps the most recently pooled entries within
``working_copy_pool_entries`` and ``working_copy_pool_bytes``; older ones go.

A claimed copy is not stat-ed file by file again (that would cost as much as
the check at the end of the run): only its top-level entries and its listing
are. Between two runs no path leads into it but the pool's own, and no process
of the run that made it is left (its tree was ended). What this does not cover
is a process outside the run's tree that kept a file of the copy open and writes
to it later; the end of the next run then sees the change and does not pool
the copy again.

The owner's uid and the umask are part of the key: a copy made by another user
or under another umask is not what :func:`~runner.snapshot.snapshots.materialize`
would make now. Linked working copies (``working_copy: link``) are never pooled:
they cost one ``link()`` a file already.
"""

from __future__ import annotations

import marshal
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import RunnerError
from ..core.paths import WorkspacePaths
from .snapshots import MANIFEST_NAME, load_manifest
from .workcopy import working_copy

FACTS_NAME = "FACTS.marshal"
TREE_DIR = "tree"
#: Top-level names of a run folder that are the run's, never the working copy's.
RUN_FOLDER_NAMES = frozenset({"outputs", "logs", ".sys"})
#: How long :func:`_settle` waits for the ctime clock to pass the recorded facts.
SETTLE_SECONDS = 0.05
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)

#: (st_ino, st_size, st_ctime_ns, st_mode, st_nlink) of one entry.
Fact = tuple
#: Folder rel path ("" for the top) -> {name: Fact} of its entries.
Facts = dict


@dataclass(frozen=True)
class PoolLimits:
    """How much the pool may keep (``working_copy_pool_entries`` / ``_bytes``); 0 is off."""

    entries: int = 4
    bytes: int = 1024**3


@dataclass
class WorkingCopy:
    """A run's working copy as its supervisor holds it between making and pruning it.

    ``how`` is ``reused`` (taken from the pool), ``copy`` or ``link``; ``facts`` is
    None when the copy cannot go to the pool.
    """

    paths: WorkspacePaths
    snapshot_id: str
    run_dir: Path
    how: str
    limits: PoolLimits = field(default_factory=PoolLimits)
    facts: Facts | None = None
    bytes: int = 0

    def pool_if_pristine(self, keep: set[str]) -> bool:
        """Move the copy into the pool if it is still exactly the snapshot (see module doc).

        Args:
            keep: Names of the run's uploaded files (relative to the run folder):
                a copy holding one of them is not pooled.

        Returns:
            True when the copy went to the pool (the run folder no longer holds it).
        """
        if self.facts is None or not _fits(self.limits, self.bytes):
            return False
        tops = self.facts[""]
        if any(name.split("/", 1)[0] in tops for name in keep):
            return False
        try:
            if _scan(str(self.run_dir), self.facts) != self.facts:
                return False
            return _publish(self.paths, self, tops)
        except OSError:  # the pool is a saving, never a reason for a run to fail
            return False


def prepare(paths: WorkspacePaths, snapshot_id: str, run_dir: str | os.PathLike[str],
            mode: str = "copy", limits: PoolLimits | None = None) -> WorkingCopy:
    """Make a run's working copy in ``run_dir``: a pristine one from the pool, else a new one.

    With ``mode="copy"`` and a pool (``limits``), a pooled copy of the same
    snapshot is taken if there is one (made by this uid under this umask, its
    top-level entries as recorded); otherwise the copy is made by
    :func:`~runner.snapshot.workcopy.working_copy` and its facts recorded so that
    :meth:`WorkingCopy.pool_if_pristine` can keep it.

    Raises:
        NotFoundError: No snapshot has this id.
        SnapshotError: The copy failed (the message names the folder).
    """
    limits = PoolLimits() if limits is None else limits
    run_dir = Path(run_dir)
    pooled = mode == "copy" and limits.entries > 0 and limits.bytes > 0 and \
        _worth_pooling(paths, snapshot_id)
    if pooled:
        try:
            taken = _take(paths, snapshot_id, run_dir, limits)
        except OSError:
            taken = None  # a fresh copy, over whatever was moved in
        if taken is not None:
            return taken
    how = working_copy(paths, snapshot_id, run_dir, mode)
    copy = WorkingCopy(paths, snapshot_id, run_dir, how, limits)
    if pooled and how == "copy":
        copy.facts, copy.bytes = _record(paths, snapshot_id, run_dir)
    return copy


#: Snapshots smaller than both of these are copied afresh every time: pooling one
#: (recording its facts, waiting for the ctime clock, renames) costs more than
#: copying it.
POOL_MIN_FILES = 256
POOL_MIN_BYTES = 8 << 20
#: A manifest file at least this big lists POOL_MIN_FILES entries or more.
_BIG_MANIFEST = 64 << 10


def _worth_pooling(paths: WorkspacePaths, snapshot_id: str) -> bool:
    """True when a snapshot is big enough for the pool to pay (many files or many bytes).

    Judged from the manifest file's size first (a big one lists many files), and
    only a small one is read for its byte count.
    """
    try:
        if (paths.snapshot_dir(snapshot_id) / MANIFEST_NAME).stat().st_size >= _BIG_MANIFEST:
            return True
        manifest = load_manifest(paths, snapshot_id)
    except (OSError, RunnerError):
        return False  # the copy itself will say what is wrong
    return int(manifest.get("files") or 0) >= POOL_MIN_FILES or \
        int(manifest.get("bytes") or 0) >= POOL_MIN_BYTES


def clear_pool(paths: WorkspacePaths) -> int:
    """Delete every pooled working copy of the workspace; returns how many were deleted.

    Copies being taken by a live process are left to it.
    """
    return len(_evict(paths.workcopies, PoolLimits(0, 0)))


def pool_entries(paths: WorkspacePaths) -> list[tuple[str, int]]:
    """The pooled copies, most recently pooled first: (entry name, bytes)."""
    return [(name, size) for _t, size, name in _entries(paths.workcopies)]


# --------------------------------------------------------------------------- facts


def _record(paths: WorkspacePaths, snapshot_id: str, run_dir: Path) -> tuple[Facts | None, int]:
    """The facts of a fresh copy (None when it cannot be pooled) and its bytes."""
    layout: dict[str, set[str]] = {"": set()}
    for e in load_manifest(paths, snapshot_id)["entries"]:
        rel = e["path"]
        if e["kind"] == "dir":
            layout.setdefault(rel, set())
        while True:
            parent, _, name = rel.rpartition("/")
            children = layout.setdefault(parent, set())
            if name in children:
                break
            children.add(name)
            if not parent:
                break
            rel = parent
    if not layout[""] or layout[""] & RUN_FOLDER_NAMES:  # (its outputs/ mixes with the run's)
        return None, 0
    facts = _scan(str(run_dir), layout)
    if facts is None or any(facts[d].keys() != names for d, names in layout.items()):
        return None, 0
    size = 0
    for folder in facts.values():
        for _ino, n, _ctime, mode, links in folder.values():
            if stat.S_ISREG(mode):
                if links != 1:
                    return None, 0
                size += n
    if not _settle(paths, facts):
        return None, 0
    return facts, size


def _scan(root: str, layout: dict[str, Any]) -> Facts | None:
    """The facts of the folders ``layout`` names under ``root`` (folder rel path ->
    names it must hold), or None when one is missing or unreadable.

    Every folder's facts list all its entries, except the top one (the run folder):
    only the names ``layout`` gives it.
    """
    facts: Facts = {}
    try:
        for drel, names in layout.items():
            # Listing a folder's fd: each stat then looks up one name, not the whole path.
            fd = os.open(root + os.sep + drel if drel else root, _O_DIR)
            try:
                with os.scandir(fd) as it:
                    entries = it if drel else [e for e in it if e.name in names]
                    facts[drel] = {e.name: _fact(e.stat(follow_symlinks=False))
                                   for e in entries}
            finally:
                os.close(fd)
    except OSError:  # gone, unreadable, a path too long: not provably pristine
        return None
    return facts


def _fact(st: os.stat_result) -> Fact:
    return (st.st_ino, st.st_size, st.st_ctime_ns, st.st_mode, st.st_nlink)


def _restat(facts: Facts, root: Path, names: Any) -> bool:
    """Record the facts of the top-level ``names`` again (a rename moves their ctime)."""
    top = facts[""]
    try:
        for name in names:
            st = os.lstat(root / name)
            old = top[name]
            if (st.st_ino, st.st_size, st.st_mode) != (old[0], old[1], old[3]):
                return False
            top[name] = _fact(st)
    except OSError:
        return False
    return True


def _settle(paths: WorkspacePaths, facts: Facts) -> bool:
    """Wait until a new ctime would differ from every recorded one; False if that is slow.

    The kernel stamps ctime from a coarse clock: a write within the tick that
    stamped a recorded ctime would leave it unchanged. Touching a probe file and
    reading its ctime tells which tick the clock is in.
    """
    newest = max((fact[2] for folder in facts.values() for fact in folder.values()), default=0)
    probe = paths.tmp / "ctime-probe"
    deadline = time.monotonic() + SETTLE_SECONDS
    try:
        paths.tmp.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644))
        while True:
            os.utime(probe)
            if os.stat(probe).st_ctime_ns > newest:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
    except OSError:
        return False


# --------------------------------------------------------------------------- the pool


def _key(snapshot_id: str) -> str:
    return f"{snapshot_id}-{os.geteuid() if hasattr(os, 'geteuid') else 0}-{_umask():03o}"


def _umask() -> int:
    """The process umask, read without changing it where the platform says it."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - not Linux: briefly set, put back
    os.umask(mask)
    return mask


def _fits(limits: PoolLimits, size: int) -> bool:
    return limits.entries > 0 and size <= limits.bytes


def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _entries(pool: Path) -> list[tuple[int, int, str]]:
    """(time pooled, bytes, name) of the complete entries, newest first."""
    out = []
    try:
        names = os.listdir(pool)
    except OSError:
        return []
    for name in names:
        if name.startswith("."):
            continue
        parts = name.rsplit("-", 3)
        try:
            out.append((int(parts[1]), int(parts[3]), name))
        except (IndexError, ValueError):
            continue
    out.sort(reverse=True)
    return out


def _take(paths: WorkspacePaths, snapshot_id: str, run_dir: Path,
          limits: PoolLimits) -> WorkingCopy | None:
    """Claim a pooled copy of the snapshot and move it into ``run_dir``; None if none fits."""
    pool = paths.workcopies
    prefix = _key(snapshot_id) + "-"
    for _t, size, name in _entries(pool):
        if not name.startswith(prefix):
            continue
        claim = pool / f".take-{_token()}"
        try:
            os.rename(pool / name, claim)  # atomic: one taker wins
        except OSError:
            continue  # another run took it first
        try:
            copy = _adopt(paths, snapshot_id, claim, run_dir, limits, size)
        finally:
            _remove_tree(claim)
        if copy is not None:
            return copy
    return None


def _adopt(paths: WorkspacePaths, snapshot_id: str, claim: Path, run_dir: Path,
           limits: PoolLimits, size: int) -> WorkingCopy | None:
    """Check a claimed entry's facts file and listing, and move its tree into ``run_dir``."""
    try:
        data = marshal.loads((claim / FACTS_NAME).read_bytes())
        facts: Facts = data["facts"]
        if data["format"] != 1 or data["snapshot"] != snapshot_id or not facts[""]:
            return None
        tree = claim / TREE_DIR
        tops = list(facts[""])
        if sorted(os.listdir(tree)) != sorted(tops):
            return None
    except (OSError, ValueError, EOFError, KeyError, TypeError, IndexError, AttributeError):
        return None  # not a facts file this version wrote
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in tops:
            os.rename(tree / name, run_dir / name)  # fails on anything in the way
    except OSError:
        return None  # the caller makes a fresh copy over what was moved
    if not _restat(facts, run_dir, tops) or not _settle(paths, facts):
        return None
    return WorkingCopy(paths, snapshot_id, run_dir, "reused", limits, facts, size)


def _publish(paths: WorkspacePaths, copy: WorkingCopy, tops: set[str]) -> bool:
    """Move a verified copy's top-level entries into a new pool entry."""
    pool = paths.workcopies
    temp = pool / f".tmp-{_token()}"
    try:
        (temp / TREE_DIR).mkdir(parents=True)
        for name in tops:
            os.rename(copy.run_dir / name, temp / TREE_DIR / name)
        facts = {**(copy.facts or {}), "": dict((copy.facts or {})[""])}
        if not _restat(facts, temp / TREE_DIR, tops) or not _settle(paths, facts):
            raise OSError("the moved copy changed")
        (temp / FACTS_NAME).write_bytes(marshal.dumps(
            {"format": 1, "snapshot": copy.snapshot_id, "bytes": copy.bytes, "facts": facts}))
        os.rename(temp, pool / f"{_key(copy.snapshot_id)}-{time.time_ns()}-{os.getpid()}"
                               f"-{copy.bytes}")
    except OSError:
        _remove_tree(temp)  # what was moved goes; the rest is pruned with the run folder
        return False
    _evict(pool, copy.limits)
    return True


def _evict(pool: Path, limits: PoolLimits) -> list[str]:
    """Delete entries beyond the limits (oldest first) and leftovers of dead processes."""
    dropped = []
    kept = total = 0
    for _t, size, name in _entries(pool):
        if kept < limits.entries and total + size <= limits.bytes:
            kept += 1
            total += size
        elif _discard(pool, name):
            dropped.append(name)
    try:
        names = os.listdir(pool)
    except OSError:
        names = []
    for name in names:
        if name.startswith((".tmp-", ".take-")):
            try:
                pid = int(name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not _alive(pid):
                _discard(pool, name)
    return dropped


def _discard(pool: Path, name: str) -> bool:
    claim = pool / f".take-{_token()}"
    try:
        os.rename(pool / name, claim)  # taken away from any taker first
    except OSError:
        return False
    _remove_tree(claim)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _remove_tree(path: Path) -> None:
    """Delete a folder tree without recursion; what cannot be deleted stays."""
    stack = [(str(path), False)]
    while stack:
        folder, emptied = stack.pop()
        if emptied:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            continue
        stack.append((folder, True))
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except NotADirectoryError:
            stack.pop()
            _unlink(folder)
            continue
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append((e.path, False))
            else:
                _unlink(e.path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
