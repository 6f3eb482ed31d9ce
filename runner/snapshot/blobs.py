"""The I/O of snapshots, made fast: blob ingest, stat cache, folder publishing, copier.

Why it exists: :mod:`runner.snapshot.snapshots` decides *what* a snapshot holds; this
module moves the bytes, as fast as the platform allows, so that a submit costs
about one copy of the source tree and a warm re-submit costs one walk:

- :meth:`BlobStore.ingest` reads a source file once, hashing it while it is
  written to a temp file in ``tmp/``, then ``os.replace`` publishes it as a
  read-only blob (so a blob is either absent or complete, whatever crashes).
- :class:`StatCache` remembers each file's sha256 by its stat, so unchanged
  files are not read again.
- :func:`write_tree` lays out manifest rows as a folder: hard links to blobs
  (the snapshot) or real copies (a working copy); :func:`publish_folder`
  builds a folder in ``tmp/`` and renames it into place, first one wins.
- :func:`copy_file` makes a real, writable copy: reflink (``FICLONE``) where
  the filesystem shares extents, else ``os.copy_file_range`` (in-kernel), else a
  plain read/write loop; on macOS ``shutil.copyfile`` (``fcopyfile``).
- :func:`run_parallel` spreads many small files over a few threads: the work is
  syscalls and hashing, both of which release the GIL.

The only module state is what this process learned about the platform
(``_CAN``: does reflink / copy_file_range work here), so failing calls are not
retried for every file.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple, TypeVar

#: Content hash constructor. Module attribute on purpose: tests count the calls.
_sha256 = hashlib.sha256

#: ioctl number of Linux ``FICLONE`` (share all extents of src with dst).
FICLONE = 0x40049409
#: Files up to this size are read in one go; larger ones are streamed.
_WHOLE_READ = 8 * 1024 * 1024
_CHUNK = 1024 * 1024
#: Worker threads for many-file operations: one per core, 2 to 8. With the data in
#: the page cache the work is CPU (syscalls, hashing, memcpy); measured on 2 vCPUs,
#: 4 threads were slower than 2 (GIL and kernel lock contention), 1 slower still.
WORKERS = min(8, max(2, os.cpu_count() or 2))
_MIN_PARALLEL = 48

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# O_NONBLOCK: a regular file swapped for a fifo after the walk must not hang us.
_O_READ = os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
# errnos meaning "this way of copying is not available here", not "the copy failed".
_UNSUPPORTED = {
    errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV, errno.ENOSYS,
    errno.EPERM, errno.EBADF, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP),
}
_CAN = {
    "reflink": sys.platform.startswith("linux"),
    "copy_file_range": sys.platform.startswith("linux") and hasattr(os, "copy_file_range"),
}

T = TypeVar("T")
R = TypeVar("R")


class UnreadableSource(Exception):
    """A source file could not be read (the snapshot skips it); wraps the OSError."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Ingested(NamedTuple):
    """What :meth:`BlobStore.ingest` learned about one source file."""

    digest: str
    size: int
    #: (size, mtime_ns, inode, ctime_ns) from the open file, or None if it changed
    #: while being read (then it must not go in the stat cache).
    key: tuple[int, int, int, int] | None


class StatCache:
    """The stat cache of one source folder: what each file's content was when last read.

    Stored as JSON, ``{"format": 1, "source": ..., "entries": {rel: "size
    mtime_ns inode ctime_ns sha256"}}`` (one string each: loads 4x faster than
    lists), written atomically. A file whose four stat fields are unchanged is
    not read again. The caller decides which files are safe to remember.

    Args:
        folder: Where cache files live (``snapshots/cache``).
        source: The source folder; its path's sha256 names the cache file.
        tmp_dir: Scratch folder for atomic writes.
    """

    def __init__(self, folder: Path, source: Path, tmp_dir: Path) -> None:
        self.path = folder / (hashlib.sha256(os.fsencode(source)).hexdigest() + ".json")
        self._source = str(source)
        self._tmp = tmp_dir
        try:
            data = json.loads(self.path.read_bytes())
            entries = data["entries"] if data.get("format") == 1 else {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            entries = {}  # no cache or a broken one: read everything
        self._entries: dict[str, str] = entries if isinstance(entries, dict) else {}

    def lookup(self, files: Sequence[Any]) -> tuple[dict[str, str], list[Any]]:
        """Split the regular files into known digests (rel -> sha256) and files to read."""
        get = self._entries.get
        digests: dict[str, str] = {}
        todo = []
        for e in files:
            if e.kind == "file":
                hit = get(e.rel)
                if hit is not None and hit[:-64] == f"{e.size} {e.mtime_ns} {e.ino} {e.ctime_ns} ":
                    digests[e.rel] = hit[-64:]
                else:
                    todo.append(e)
        return digests, todo

    def save(self, digests: dict[str, str], fresh: dict[str, tuple[tuple[int, ...], str]],
             read: Sequence[Any] = ()) -> None:
        """Keep the hits (files in ``digests`` not in ``read``), add ``fresh`` (rel ->
        (stat key, sha256)), forget the rest; write only if that changed anything."""
        skip = {e.rel for e in read}
        entries = {rel: self._entries[rel] for rel in digests
                   if rel not in skip and rel in self._entries}
        for rel, (key, digest) in fresh.items():
            entries[rel] = "{} {} {} {} ".format(*key) + digest
        if entries != self._entries:
            data = {"format": 1, "source": self._source, "entries": entries}
            write_atomic(self.path, json.dumps(data, separators=(",", ":")), self._tmp)
            self._entries = entries


def run_parallel(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """Apply ``func`` to every item, on a few threads when there are many.

    Args:
        func: Called once per item; its exceptions propagate.
        items: The work, in order.

    Returns:
        The results, in the order of ``items``.
    """
    if len(items) < _MIN_PARALLEL:
        return [func(item) for item in items]
    size = max(8, len(items) // (WORKERS * 4))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="runner-snap") as pool:
        parts = pool.map(lambda chunk: [func(item) for item in chunk], chunks)
        return [result for part in parts for result in part]


class BlobStore:
    """The content store: one read-only file per distinct content, named by its sha256.

    Paths are built as strings (``<blobs>/<ab>/<digest>``, the layout of
    ``WorkspacePaths.blob``): pathlib costs more than the syscall for small files.

    Args:
        blobs_dir: The store's root (``WorkspacePaths.blobs``).
        tmp_dir: Scratch folder on the same filesystem (``WorkspacePaths.tmp``).
    """

    def __init__(self, blobs_dir: Path, tmp_dir: Path) -> None:
        self._prefix = str(blobs_dir) + os.sep
        self._temp_prefix = f"{tmp_dir}{os.sep}blob-{os.getpid()}-"
        self._known_dirs: set[str] = set()
        self._counter = itertools.count()

    def path(self, digest: str) -> str:
        """Return where the blob of ``digest`` lives (it may not exist)."""
        return f"{self._prefix}{digest[:2]}{os.sep}{digest}"

    def has(self, digest: str) -> bool:
        """Return True when the blob of ``digest`` is stored."""
        return os.path.exists(self.path(digest))

    def ingest(self, source: str) -> Ingested:
        """Hash a regular file and store its content unless the store has it already.

        The file is read once: small files into memory, large ones streamed to a
        temp file while hashing.

        Args:
            source: Path of the file to capture.

        Returns:
            Its digest, the number of bytes read and its stat key.

        Raises:
            UnreadableSource: The source could not be opened or read.
            OSError: The store could not be written.
        """
        try:
            fd = os.open(source, _O_READ)
        except OSError as exc:
            raise UnreadableSource(exc) from exc
        try:
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise OSError(errno.EINVAL, "no longer a regular file", source)
                hasher = _sha256()
                if st.st_size <= _WHOLE_READ:
                    data = _read_all(fd, st.st_size)
            except OSError as exc:
                raise UnreadableSource(exc) from exc
            if st.st_size <= _WHOLE_READ:
                hasher.update(data)
                digest, size = hasher.hexdigest(), len(data)
                if not self.has(digest):
                    self._store_bytes(digest, data)
            else:
                digest, size = self._store_stream(fd, hasher)
        finally:
            os.close(fd)
        key = (size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) if size == st.st_size else None
        return Ingested(digest, size, key)

    def ingest_all(self, sources: Sequence[str]) -> list[Ingested | OSError]:
        """Ingest many files on a few threads; an unreadable one gives its OSError."""

        def one(source: str) -> Ingested | OSError:
            try:
                return self.ingest(source)
            except UnreadableSource as exc:
                return exc.error

        return run_parallel(one, sources)

    def _new_temp(self) -> tuple[str, int]:
        while True:
            name = f"{self._temp_prefix}{next(self._counter)}.tmp"
            try:
                return name, os.open(name, _O_NEW, 0o444)
            except FileExistsError:  # left by a crashed process that had our pid
                continue

    def _publish(self, temp: str, digest: str) -> None:
        parent = self._prefix + digest[:2]
        target = f"{parent}{os.sep}{digest}"
        if parent not in self._known_dirs:
            os.makedirs(parent, exist_ok=True)
            self._known_dirs.add(parent)
        # Atomic; a concurrent writer of the same digest wrote the same bytes.
        os.replace(temp, target)

    def _store_bytes(self, digest: str, data: bytes) -> None:
        temp, fd = self._new_temp()
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            self._publish(temp, digest)
        except BaseException:
            unlink_quietly(temp)
            raise

    def _store_stream(self, fd: int, hasher: hashlib._Hash) -> tuple[str, int]:
        temp, out = self._new_temp()
        size = 0
        try:
            try:
                while True:
                    try:
                        chunk = os.read(fd, _CHUNK)
                    except OSError as exc:
                        raise UnreadableSource(exc) from exc
                    if not chunk:
                        break
                    hasher.update(chunk)
                    _write_all(out, chunk)
                    size += len(chunk)
            finally:
                os.close(out)
            digest = hasher.hexdigest()
            if self.has(digest):
                unlink_quietly(temp)
            else:
                self._publish(temp, digest)
        except BaseException:
            unlink_quietly(temp)
            raise
        return digest, size


def write_tree(dest: str, rows: Sequence[Sequence[Any]], blob_of: Callable[[str, str], str],
               link: bool, copy_exec: bool = False) -> None:
    """Create the folders, files and symlinks of manifest rows under ``dest``.

    Args:
        dest: The folder (made if missing); things in the way are replaced, never
            written through.
        rows: ``[path, kind, sha256 | link target, exec, size]``, kind file/link/dir.
        blob_of: Maps (path, sha256) to the file holding that content.
        link: Hard-link the files (snapshot folder, read-only working copy) instead of
            copying them (writable copy).
        copy_exec: With ``link``, copy the executable files all the same (a hard
            link shares the blob's mode 0o444, which has no executable bit).
    """
    os.makedirs(dest, exist_ok=True)
    base = dest + os.sep
    dirs = {row[0] for row in rows if row[1] == "dir"}
    for row in rows:
        parts = row[0].split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for d in sorted(dirs):  # parents sort before their children
        _make_dir(base + d)
    jobs = [(blob_of(p, ref), base + p, bool(x), size)
            for p, kind, ref, x, size, *_ in rows if kind == "file"]
    if link and copy_exec:
        run_parallel(lambda job: copy_file(*job) if job[2] else link_or_copy(job[0], job[1]),
                     jobs)
    elif link:
        run_parallel(lambda job: link_or_copy(job[0], job[1]), jobs)
    else:
        run_parallel(lambda job: copy_file(*job), jobs)
    for p, kind, ref, *_ in rows:
        if kind == "link":
            remove_non_dir(base + p)
            os.symlink(ref, base + p)


def _make_dir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):  # a file, or a link to elsewhere
            os.unlink(path)
            os.mkdir(path)


def publish_folder(tmp_dir: Path, final: Path, fill: Callable[[Path], None], marker: str) -> bool:
    """Build a folder in ``tmp_dir`` with ``fill`` and rename it to ``final``.

    Args:
        tmp_dir: Scratch folder on the filesystem of ``final``.
        final: Where the folder goes; an existing one is complete and kept.
        fill: Writes the folder's content into the temp folder it is given.
        marker: A file ``fill`` writes last: its presence means "complete".

    Returns:
        True when another process published ``final`` first (ours is discarded).
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f"{final.name[:8]}-", dir=tmp_dir))
    try:
        fill(temp)
        try:
            os.rename(temp, final)  # atomic; fails on an existing non-empty folder
            return False
        except OSError:
            if (final / marker).is_file():
                return True
            raise
    finally:
        if os.path.lexists(temp):
            shutil.rmtree(temp, ignore_errors=True)


def write_atomic(path: Path, text: str, tmp_dir: Path) -> None:
    """Write ``text`` to ``path`` through a temp file in ``tmp_dir`` and ``os.replace``."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f"{path.stem[:8]}-", suffix=".tmp", dir=tmp_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        unlink_quietly(temp)
        raise


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link a blob to ``dst``; copy it (read-only) where hard links fail.

    Raises:
        FileNotFoundError: The blob is missing.
        OSError: Neither linking nor copying worked.
    """
    try:
        os.link(src, dst)
    except FileNotFoundError:
        raise
    except OSError:  # EXDEV, EMLINK, EPERM (some filesystems): a copy will do
        copy_file(src, dst, executable=False)
        os.chmod(dst, 0o444)


def copy_file(src: str, dst: str, executable: bool, size: int = -1) -> None:
    """Copy ``src`` to a new, writable ``dst`` (replacing a file or link there).

    Tries reflink, then ``copy_file_range``, then a read/write loop (Linux), or
    ``shutil.copyfile`` elsewhere. The mode is 0o666 or 0o777, less the umask.
    ``size``, when known (immutable sources), saves the end-of-file probe.

    Raises:
        OSError: The copy failed.
    """
    if not (_CAN["reflink"] or _CAN["copy_file_range"]):
        remove_non_dir(dst)
        shutil.copyfile(src, dst, follow_symlinks=False)
        if executable:
            mode = os.stat(dst).st_mode
            os.chmod(dst, stat.S_IMODE(mode) | (mode & 0o444) >> 2)
        return
    sfd = os.open(src, os.O_RDONLY | _O_CLOEXEC)
    try:
        mode = 0o777 if executable else 0o666
        try:
            dfd = os.open(dst, _O_NEW, mode)
        except FileExistsError:
            remove_non_dir(dst)
            dfd = os.open(dst, _O_NEW, mode)
        try:
            _copy_fd(sfd, dfd, size)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _copy_fd(sfd: int, dfd: int, size: int) -> None:
    if _CAN["reflink"]:
        import fcntl

        try:
            fcntl.ioctl(dfd, FICLONE, sfd)
            return
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            _CAN["reflink"] = False  # e.g. ext4: never try again in this process
    copied = 0
    if _CAN["copy_file_range"]:
        try:
            while copied != size:
                n = os.copy_file_range(sfd, dfd, 1 << 30)
                if n == 0:
                    return
                copied += n
            return
        except OSError as exc:
            if copied or exc.errno not in _UNSUPPORTED:
                raise
            _CAN["copy_file_range"] = False
    while True:
        chunk = os.read(sfd, _CHUNK)
        if not chunk:
            return
        _write_all(dfd, chunk)


def remove_non_dir(dst: str) -> None:
    """Remove a file or link at ``dst`` so a copy never writes through a link."""
    try:
        st = os.lstat(dst)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way", dst)
    os.unlink(dst)


def _read_all(fd: int, size: int) -> bytes:
    data = os.read(fd, size + 1)
    parts = [data]
    while data:  # short reads are allowed: go on until end of file
        data = os.read(fd, _CHUNK)
        parts.append(data)
    return parts[0] if len(parts) <= 2 else b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unlink_quietly(path: str) -> None:
    """Remove ``path`` if possible; a cleanup never raises."""
    try:
        os.unlink(path)
    except OSError:
        pass
