"""Snapshots: the source directory as it was at submit time, stored once, reused often.

Why it exists: a run must execute the code that was submitted, even while the
user goes on editing, and ``runner snapshot RUN`` must show it later. As Azure
ML did, the source directory is filtered (``.amlignore``, else ``.gitignore``)
and size-limited; unlike a plain copy, contents are stored once (by sha256) and
an unchanged tree costs only a walk with ``stat``.

Decisions are apart from I/O: :func:`select_files` decides what would be
captured (``runner submit --dry-run`` shows it), :func:`check_limits` decides
whether that is too much, :func:`take_snapshot` stores it and
:func:`materialize` makes the run's writable working copy (the byte moving is
in :mod:`runner.snapshot.blobs`).

Owned on disk, under ``WorkspacePaths.snapshots``::

    blobs/<ab>/<sha256>          one read-only file per distinct content
    cache/<sha256(src)>.json     stat cache of one source folder:
                                 rel path -> "size mtime_ns inode ctime_ns sha256"
    <snapshot_id>/MANIFEST.json  entries, totals, created time, source path
    <snapshot_id>/files/...      the tree: hard links to blobs, symlinks as symlinks

The files sit under ``files/`` so a source file named ``MANIFEST.json`` cannot
collide with the manifest. Hard links share the blob's mode (0o444), so the
executable bit lives in the manifest and :func:`materialize` applies it.

Concurrency, without locks: blobs and cache files are written to ``tmp/`` and
published with ``os.replace`` (same bytes either way); a snapshot folder is
built in ``tmp/`` and ``os.rename``-d into place, and whoever loses the race
discards its copy. A snapshot folder that exists is complete.

A snapshot id is the first 32 hex digits of the sha256 of the canonical
manifest: one line per entry, sorted by path, ``kind NUL path NUL
sha256-or-link-target NUL exec(0/1) NUL size``, kinds ``file``, ``link`` and
``dir`` (empty folders). Same content, same id, whatever the source folder.

The stat cache (:class:`runner.snapshot.blobs.StatCache`) only learns files
last modified more than ``_RACY_NS`` before the walk began (as git does for its
index): a file rewritten within one timestamp tick of being hashed keeps its stat.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..core.errors import NotFoundError, SnapshotError, StoreError, UsageError
from ..core.paths import WorkspacePaths
from . import blobs as _copy

DEFAULT_MAX_BYTES = 300 * 1024 * 1024
DEFAULT_MAX_FILES = 2000
#: Folder (or file) names never captured, at any depth.
ALWAYS_SKIPPED = frozenset({".git", ".runner", "__pycache__"})
#: Ignore files: always captured themselves, never filtered by their own patterns.
IGNORE_FILES = (".amlignore", ".gitignore")
MANIFEST_NAME = "MANIFEST.json"
FILES_DIR = "files"
#: Files modified this recently (before the walk) are re-hashed next time.
_RACY_NS = 2_000_000_000
#: Text diffs are shown for changed files up to this size.
_ID_RE = re.compile(r"[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class SnapshotLimits:
    """How much a snapshot may hold (``snapshot_max_bytes`` / ``snapshot_max_files``)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


class FileEntry(NamedTuple):
    """One captured file or symlink, as the walk saw it."""

    rel: str  #: posix path relative to the source directory
    path: str  #: absolute path
    size: int  #: bytes (a symlink: length of its target)
    kind: str  #: "file" or "link"
    is_exec: bool  #: owner executable bit (files)
    target: str | None  #: link target, as stored in the link
    mtime_ns: int
    ino: int
    ctime_ns: int


@dataclass
class Selection:
    """What :func:`select_files` decided to capture, and what it left out and why."""

    source: Path
    files: list[FileEntry]
    ignored: list[tuple[str, str]]
    empty_dirs: list[str] = field(default_factory=list)
    #: Sum of the sizes of the captured regular files.
    total_bytes: int = 0


@dataclass(frozen=True)
class SnapshotInfo:
    """The result of :func:`take_snapshot`; ``reused`` when the snapshot existed."""

    id: str
    path: Path
    files: int
    bytes: int
    reused: bool
    ignored: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------- selection


def select_files(source_dir: str | os.PathLike[str]) -> Selection:
    """Decide which files a snapshot of ``source_dir`` captures; writes nothing.

    ``.amlignore`` at the root selects ``.amlignore`` files (at the root and in
    sub folders); otherwise ``.gitignore`` files are used, each applying to its
    own subtree, deeper files overriding, ``!`` re-including. Always skipped:
    ``.git``, ``.runner``, ``__pycache__`` and virtualenvs (folders holding
    ``pyvenv.cfg``). Symlinks are kept as links, never followed. Special and
    unreadable files are left out with a reason.

    Args:
        source_dir: The folder to capture.

    Returns:
        The selection, files sorted by relative path.

    Raises:
        SnapshotError: ``source_dir`` is missing or not a folder.
    """
    root = _check_source(source_dir)
    aml = os.path.isfile(os.path.join(root, IGNORE_FILES[0]))
    mode = IGNORE_FILES[0] if aml else IGNORE_FILES[1]
    can_read = _read_permission()
    new_tuple = tuple.__new__  # FileEntry(...) costs a Python call; the walk is the warm path
    files: list[FileEntry] = []
    ignored: list[tuple[str, str]] = []
    empty: list[str] = []
    total = 0
    stack: list[tuple[str, str, tuple[_Rules, ...]]] = [(str(root), "", ())]
    while stack:
        dpath, drel, rules = stack.pop()
        try:
            with os.scandir(dpath) as it:
                entries = list(it)
        except OSError as exc:
            ignored.append((drel + "/", f"unreadable folder ({exc.strerror})"))
            continue
        if not entries:
            if drel:
                empty.append(drel)
            continue
        names = {e.name for e in entries}
        if drel and "pyvenv.cfg" in names:
            ignored.append((drel + "/", "virtualenv"))
            continue
        if mode in names:
            loaded = _Rules.load(os.path.join(dpath, mode), drel, mode)
            if loaded is not None:
                rules = (*rules, loaded)
        prefix = drel + "/" if drel else ""
        for e in entries:
            name = e.name
            rel = prefix + name
            if name in ALWAYS_SKIPPED:
                shown = rel + "/" if e.is_dir(follow_symlinks=False) else rel
                ignored.append((shown, "always skipped"))
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                ignored.append((rel, f"unreadable ({exc.strerror})"))
                continue
            m = st.st_mode
            fmt = m & 0o170000
            if rules and name not in IGNORE_FILES:
                why = _match_rules(rules, rel, fmt == stat.S_IFDIR)
                if why:
                    ignored.append((rel + "/" if fmt == stat.S_IFDIR else rel, why))
                    continue
            if fmt == stat.S_IFREG:
                if can_read(st):
                    files.append(new_tuple(FileEntry, (rel, e.path, st.st_size, "file",
                                                       m & 0o100 != 0, None, st.st_mtime_ns,
                                                       st.st_ino, st.st_ctime_ns)))
                    total += st.st_size
                else:
                    ignored.append((rel, "unreadable (permission denied)"))
            elif fmt == stat.S_IFDIR:
                stack.append((e.path, rel, rules))
            elif fmt == stat.S_IFLNK:
                try:
                    target = os.readlink(e.path)
                except OSError as exc:
                    ignored.append((rel, f"unreadable ({exc.strerror})"))
                    continue
                files.append(new_tuple(FileEntry, (rel, e.path, st.st_size, "link", False, target,
                                                   st.st_mtime_ns, st.st_ino, st.st_ctime_ns)))
            else:
                ignored.append((rel, f"special file ({_special_kind(m)})"))
    files.sort()  # by rel, which is unique
    ignored.sort()
    empty.sort()
    return Selection(root, files, ignored, empty, total)


class _Rules:
    """The patterns of one ignore file, applying to the subtree of its folder.

    pathspec translates each gitignore pattern to a regex; its regexes also match
    *below* a matching folder (``foo/`` matches ``foo/x``), as it checks files
    without walking. We walk and check each path on its own, as git does, so a
    pattern counts only when it matches the path itself: deeper files first,
    last matching pattern wins, nothing below an ignored folder is looked at.
    """

    __slots__ = ("base", "label", "patterns", "quick")

    def __init__(self, base: str, label: str, patterns: list[Any], quick: Any) -> None:
        self.base = base
        self.label = label
        self.patterns = patterns  # (include, pattern text, compiled regex), last first
        self.quick = quick

    @classmethod
    def load(cls, path: str, base: str, name: str) -> _Rules | None:
        import pathspec

        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().splitlines()
        except OSError:
            return None  # the file itself is then reported as unreadable
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        active = [(p.include, p.pattern, p.regex) for p in spec.patterns if p.include is not None]
        if not active:
            return None
        # One regex for "can any pattern match?" (most paths match none), used with
        # match(): pathspec's regexes are searched, so unanchored ones get a '.*?'.
        unnamed = [re.sub(r"[(][?]P<[^>]*>", "(?:", rx.pattern) for _, _, rx in active]
        try:
            quick = re.compile("|".join(r[1:] if r.startswith("^") else ".*?" + r
                                        for r in unnamed))
        except re.error:  # an unexpected regex shape: no shortcut, still correct
            quick = re.compile("")
        return cls(base, f"{base}/{name}" if base else name, active[::-1], quick)

    def check(self, rel: str, is_dir: bool) -> tuple[bool | None, str]:
        """Return (True ignored / False re-included / None no match, pattern text)."""
        path = rel[len(self.base) + 1 :] if self.base else rel
        subject = path + "/" if is_dir else path  # folder patterns ('data/') need the slash
        if self.quick.match(subject) is not None:
            for include, text, rx in self.patterns:
                if _matches_itself(rx, path, subject, is_dir):
                    return include, text
        return None, ""


def _matches_itself(rx: re.Pattern[str], path: str, subject: str, is_dir: bool) -> bool:
    """Does a pathspec gitignore regex match ``path`` itself, not just an ancestor folder?"""
    shape = rx.pattern
    if shape == ".":  # '*' and '**': everything
        return True
    if shape == "(?P<ps_d>/)":  # '*/' and '**/': every folder
        return is_dir
    if shape.endswith("/") and not shape.endswith(">/)"):  # 'a/**', '*/**': inside a folder
        return rx.search(path) is not None
    m = rx.fullmatch(subject)
    if m is None:
        return False
    start, end = m.span("ps_d") if "ps_d" in rx.groupindex else (-1, -1)
    if start < 0:  # matched through '$': the path itself
        return True
    return is_dir and end == len(subject)  # the mark must be the folder's own slash


def _match_rules(rules: tuple[_Rules, ...], rel: str, is_dir: bool) -> str | None:
    for r in reversed(rules):  # deeper ignore files override shallower ones
        include, pattern = r.check(rel, is_dir)
        if include is not None:
            return f"matched {r.label} pattern {pattern!r}" if include else None
    return None


def _check_source(source_dir: str | os.PathLike[str]) -> Path:
    path = Path(source_dir)
    if not path.exists():
        raise SnapshotError(f"Source directory {str(path)!r} does not exist.", path=path)
    if not path.is_dir():
        raise SnapshotError(f"Source directory {str(path)!r} is not a folder.", path=path)
    return Path(os.path.realpath(path))


def _read_permission() -> Callable[[os.stat_result], bool]:
    """Return a stat-only guess of "can this process read the file" (ACLs aside)."""
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return lambda st: True
    uid, gids = os.geteuid(), {os.getegid(), *os.getgroups()}

    def can_read(st: os.stat_result) -> bool:
        if st.st_uid == uid:
            return bool(st.st_mode & 0o400)
        if st.st_gid in gids:
            return bool(st.st_mode & 0o040)
        return bool(st.st_mode & 0o004)

    return can_read


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "unknown type"


# --------------------------------------------------------------------------- limits


def check_limits(selection: Selection, limits: SnapshotLimits) -> None:
    """Raise when the selection is over a limit, naming what to leave out.

    Raises:
        SnapshotError: Over ``max_bytes`` or ``max_files``; the message lists the
            5 largest files and top-level folders and how to ignore them.
    """
    count, total = len(selection.files), selection.total_bytes
    over = []
    if total > limits.max_bytes:
        over.append(f"{human_size(total)} is over the limit of {human_size(limits.max_bytes)} "
                    "(snapshot_max_bytes)")
    if count > limits.max_files:
        over.append(f"{count:,} files is over the limit of {limits.max_files:,} "
                    "(snapshot_max_files)")
    if not over:
        return
    folders: dict[str, list[int]] = {}
    for e in selection.files:
        if "/" in e.rel:
            acc = folders.setdefault(e.rel.split("/", 1)[0] + "/", [0, 0])
            acc[0] += e.size
            acc[1] += 1
    biggest = sorted(selection.files, key=lambda e: (-e.size, e.rel))[:5]
    top = sorted(folders.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:5]
    lines = [f"Source directory {str(selection.source)!r} is too large to snapshot: "
             + "; ".join(over) + f". It holds {count:,} files, {human_size(total)}."]
    lines.append("Largest files:")
    lines += [f"  {human_size(e.size):>10}  {e.rel}" for e in biggest]
    if top:
        lines.append("Largest top-level folders:")
        lines += [f"  {human_size(b):>10}  {name} ({n:,} file{'s' if n > 1 else ''})"
                  for name, (b, n) in top]
    lines.append("Leave them out by adding patterns (such as 'data/') to .amlignore or "
                 f".gitignore in {str(selection.source)!r}, or raise snapshot_max_bytes / "
                 "snapshot_max_files in .runner/config.yaml.")
    raise SnapshotError("\n".join(lines), path=selection.source, total_bytes=total,
                        total_files=count)


def human_size(n: int) -> str:
    """``1.5 MiB`` and the like (binary units: 1 MiB is 1024 KiB)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


# --------------------------------------------------------------------------- snapshots


def take_snapshot(paths: WorkspacePaths, source_dir: str | os.PathLike[str],
                  limits: SnapshotLimits | None = None) -> SnapshotInfo:
    """Capture ``source_dir`` into the workspace, reusing what is stored already.

    An unchanged tree costs one walk with ``stat`` (no hashing, no copying) and
    returns the existing snapshot with ``reused=True``.

    Args:
        paths: The workspace.
        source_dir: The folder to capture.
        limits: Size limits; the defaults when None.

    Returns:
        The snapshot's id, folder, file count, bytes and whether it existed.

    Raises:
        SnapshotError: The source is missing or over a limit (nothing is written).
        StoreError: The workspace could not be written.
    """
    walk_start = time.time_ns()
    selection = select_files(source_dir)
    check_limits(selection, limits or SnapshotLimits())
    return store_selection(paths, selection, walk_start)


def store_selection(paths: WorkspacePaths, selection: Selection,
                    walk_start: int | None = None) -> SnapshotInfo:
    """Store the files of ``selection`` (from :func:`select_files`, or built by a caller
    such as the model registry) as a snapshot, reusing what is stored already.

    Raises:
        StoreError: The workspace could not be written.
    """
    walk_start = time.time_ns() if walk_start is None else walk_start
    cache = _copy.StatCache(paths.snapshots / "cache", selection.source, paths.tmp)
    digests, todo = cache.lookup(selection.files)
    try:
        if not todo:  # the warm path: stat only
            sid = _snapshot_id(_rows(selection, digests, {}))
            if (paths.snapshot_dir(sid) / MANIFEST_NAME).is_file():
                cache.save(digests, {})  # forgets files that went away, if any
                return _info(paths, sid, selection, True)
        return _store(paths, selection, cache, digests, todo, walk_start)
    except OSError as exc:
        raise StoreError(f"Could not write the snapshot into {str(paths.snapshots)!r}: {exc}",
                         path=paths.snapshots) from exc


def _store(paths: WorkspacePaths, selection: Selection, cache: _copy.StatCache,
           digests: dict[str, str], todo: list[FileEntry], walk_start: int) -> SnapshotInfo:
    paths.tmp.mkdir(parents=True, exist_ok=True)
    paths.blobs.mkdir(parents=True, exist_ok=True)
    store = _copy.BlobStore(paths.blobs, paths.tmp)
    by_rel = {e.rel: e for e in selection.files}
    for rel in [rel for rel, digest in digests.items() if not store.has(digest)]:
        del digests[rel]  # cached hash, but the blob is gone: read the file again
        todo.append(by_rel[rel])

    ignored = list(selection.ignored)
    sizes: dict[str, int] = {}
    fresh: dict[str, tuple[tuple[int, int, int, int], str]] = {}
    racy = walk_start - _RACY_NS
    for e, got in zip(todo, store.ingest_all([e.path for e in todo])):
        if isinstance(got, OSError):
            ignored.append((e.rel, f"unreadable ({got.strerror or got})"))
            continue
        digests[e.rel] = got.digest
        if got.size != e.size:
            sizes[e.rel] = got.size
        if got.key is not None and got.key[1] < racy:
            fresh[e.rel] = (got.key, got.digest)
    if len(ignored) > len(selection.ignored) or sizes:  # some unreadable, or changed size
        kept = [e for e in selection.files if e.kind != "file" or e.rel in digests]
        kept_bytes = sum(sizes.get(e.rel, e.size) for e in kept if e.kind == "file")
        selection = Selection(selection.source, kept, sorted(ignored), selection.empty_dirs,
                              kept_bytes)
    import logging

    logging.getLogger(__name__).debug("snapshot of %s: %d files read, %d from the stat cache",
                 selection.source, len(todo), len(digests) - len(todo))
    rows = _rows(selection, digests, sizes)
    sid = _snapshot_id(rows)
    reused = (paths.snapshot_dir(sid) / MANIFEST_NAME).is_file()
    if not reused:
        reused = _build(paths, store, sid, rows, selection)
    cache.save(digests, fresh, todo)
    return _info(paths, sid, selection, reused)


def _build(paths: WorkspacePaths, store: _copy.BlobStore, sid: str, rows: list[list[Any]],
           selection: Selection) -> bool:
    """Build the snapshot folder in tmp/ and rename it into place; True if another won."""
    count, total = len(selection.files), selection.total_bytes
    head = {"format": 1, "id": sid, "source": str(selection.source),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "files": count, "bytes": total}
    # One entry a line: readable in the browsable folder.
    text = json.dumps(head)[:-1] + ', "entries": [\n'
    text += ",\n".join(map(_entry_json, rows)) + "\n]}\n"

    def fill(temp: Path) -> None:
        _copy.write_tree(str(temp / FILES_DIR), rows, lambda p, digest: store.path(digest),
                         link=True)
        (temp / MANIFEST_NAME).write_text(text, encoding="utf-8")

    return _copy.publish_folder(paths.tmp, paths.snapshot_dir(sid), fill, MANIFEST_NAME)


def _rows(selection: Selection, digests: dict[str, str],
          sizes: dict[str, int]) -> list[list[Any]]:
    """The canonical manifest rows: [path, kind, sha256 | link target | "", exec, size]."""
    rows: list[list[Any]] = [
        [e.rel, "file", digests[e.rel], e.is_exec, sizes.get(e.rel, e.size)] if e.kind == "file"
        else [e.rel, "link", e.target, False, e.size]
        for e in selection.files
    ]
    if selection.empty_dirs:
        rows += [[d, "dir", "", False, 0] for d in selection.empty_dirs]
        rows.sort(key=lambda r: r[0])
    return rows


def _snapshot_id(entries: list[list[Any]]) -> str:
    """First 32 hex digits of the sha256 of the canonical manifest (see module doc)."""
    canonical = "".join([f"{kind}\0{p}\0{ref}\0{x:d}\0{n}\n" for p, kind, ref, x, n in entries])
    return hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _entry_json(row: list[Any]) -> str:
    """One manifest entry as a line of JSON (by hand: json.dumps per entry is 5x slower)."""
    p, kind, ref, is_exec, size = row
    path = _json_str(p)
    if kind == "file":
        return (f'{{"path": {path}, "kind": "file", "sha256": "{ref}", '
                f'"exec": {"true" if is_exec else "false"}, "size": {size}}}')
    if kind == "link":
        return f'{{"path": {path}, "kind": "link", "target": {_json_str(ref)}, "size": {size}}}'
    return f'{{"path": {path}, "kind": "dir"}}'


_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _info(paths: WorkspacePaths, sid: str, selection: Selection, reused: bool) -> SnapshotInfo:
    return SnapshotInfo(sid, paths.snapshot_dir(sid), len(selection.files),
                        selection.total_bytes, reused, tuple(selection.ignored))


# --------------------------------------------------------------------------- reading


def load_manifest(paths: WorkspacePaths, snapshot_id: str) -> dict[str, Any]:
    """Return the manifest of a snapshot (``entries``, ``files``, ``bytes``, ...).

    Raises:
        NotFoundError: No snapshot has this id.
        StoreError: The manifest is unreadable.
    """
    if not _ID_RE.match(str(snapshot_id)):
        raise NotFoundError(f"No snapshot {snapshot_id!r}: ids are 32 hex digits.",
                            snapshot_id=snapshot_id)
    path = paths.snapshot_dir(snapshot_id) / MANIFEST_NAME
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"No snapshot {snapshot_id!r} in {str(paths.snapshots)!r}.",
                            snapshot_id=snapshot_id) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"Snapshot {snapshot_id!r} has an unreadable manifest: {exc}",
                         path=path) from exc


def materialize(paths: WorkspacePaths, snapshot_id: str,
                dest_dir: str | os.PathLike[str]) -> None:
    """Write a real, writable copy of a snapshot's files into ``dest_dir``.

    The copy shares nothing with the store (reflinks are copy-on-write), so a
    script rewriting a file in place never changes the snapshot. ``dest_dir``
    and its parents are created; files already there are replaced.

    Raises:
        NotFoundError: No snapshot has this id.
        SnapshotError: The copy failed (the message names the folder).
    """
    write_snapshot(paths, snapshot_id, dest_dir, link=False)


def write_snapshot(paths: WorkspacePaths, snapshot_id: str, dest_dir: str | os.PathLike[str],
                   link: bool) -> None:
    """:func:`materialize` (``link=False``) or a working copy of hard links to the blobs
    (``link=True``, see :func:`runner.snapshot.workcopy.working_copy`)."""
    rows = [[e["path"], e["kind"], e.get("sha256") or e.get("target", ""), bool(e.get("exec")),
             e.get("size", -1)] for e in load_manifest(paths, snapshot_id)["entries"]]
    src = str(paths.snapshot_dir(snapshot_id) / FILES_DIR) + os.sep
    dest = Path(dest_dir)
    try:
        _copy.write_tree(str(dest), rows, lambda p, digest: src + p, link=link, copy_exec=True)
    except OSError as exc:
        raise SnapshotError(f"Could not copy snapshot {snapshot_id} into {str(dest)!r}: {exc}",
                            path=dest, snapshot_id=snapshot_id) from exc


def restore_snapshot(paths: WorkspacePaths, snapshot_id: str,
                     dest_dir: str | os.PathLike[str]) -> Path:
    """Materialize a snapshot into a new or empty folder and return that folder.

    Raises:
        UsageError: ``dest_dir`` exists and is not an empty folder.
        NotFoundError: No snapshot has this id.
    """
    dest = Path(dest_dir)
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or any(dest.iterdir()):
            raise UsageError(f"Cannot restore snapshot {snapshot_id} into {str(dest)!r}: "
                             "it exists and is not an empty folder.", path=dest)
    load_manifest(paths, snapshot_id)  # NotFoundError before creating anything
    materialize(paths, snapshot_id, dest)
    return dest.resolve()
