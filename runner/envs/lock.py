"""Locks and leases on cached environments.

Two files under ``.runner/locks/`` protect a cached environment::

    locks/env-<hash>.lock                    flock: held while building or removing it
    locks/env-leases/<hash>/<run_id>.json    a live run uses it: {"pid", "create_time"}

A lock is an OS-level lock (``fcntl.flock``; ``msvcrt.locking`` on Windows), so
a killed holder releases it.  Lock files are never deleted: deleting one while
another process waits on it would let two holders in.

A lease says "run R (pid P, started at T) runs in this environment".  It counts
only while a process with that pid *and* that start time is alive, so a
crashed run never pins an environment forever.  Leases are taken and checked
under the environment's lock, which makes "prune saw no lease" and "the run
found the environment" mutually exclusive.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from ..core.paths import WorkspacePaths

logger = logging.getLogger(__name__)


class FileLock:
    """An exclusive inter-process lock on a file, usable as a context manager.

    Args:
        path: the lock file (created with its folder when missing).
        timeout: seconds to wait; None waits forever.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float | None = None) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; return whether it was taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if _lock_fd(fd):
                self._fd = fd
                return True
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return False

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout``.

        Raises:
            TimeoutError: the lock was still held when the timeout ran out.
        """
        if self.timeout is None and sys.platform != "win32":
            import fcntl

            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = 0.005
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"lock {self.path} still held after {self.timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def release(self) -> None:
        """Release the lock (closing the descriptor releases it at the OS level)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
                import msvcrt

                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
                except OSError:
                    pass
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _lock_fd(fd: int) -> bool:
    """Try to lock ``fd`` without waiting."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def env_lock(paths: WorkspacePaths, env_hash: str, timeout: float | None = None) -> FileLock:
    """The lock guarding the build and removal of one cached environment."""
    return FileLock(paths.locks / f"env-{env_hash}.lock", timeout=timeout)


def _lease_dir(paths: WorkspacePaths, env_hash: str) -> Path:
    return paths.locks / "env-leases" / env_hash


def process_create_time(pid: int) -> float | None:
    """Start time of process ``pid`` (psutil), or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def write_lease(paths: WorkspacePaths, env_hash: str, run_id: str, pid: int) -> Path:
    """Write the lease file (the caller holds the environment's lock)."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise ValueError(f"run id {run_id!r} cannot name a lease file")
    folder = _lease_dir(paths, env_hash)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{run_id}.json"
    tmp = folder / f".{run_id}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"run_id": run_id, "pid": pid,
                               "create_time": process_create_time(pid)}), encoding="utf-8")
    os.replace(tmp, target)
    return target


def release_lease(paths: WorkspacePaths, env_hash: str, run_id: str) -> None:
    """Say that run ``run_id`` no longer uses environment ``env_hash`` (missing is fine)."""
    folder = _lease_dir(paths, env_hash)
    try:
        (folder / f"{run_id}.json").unlink()
    except FileNotFoundError:
        pass
    try:
        folder.rmdir()
    except OSError:
        pass


def live_leases(paths: WorkspacePaths, env_hash: str, clean: bool = False) -> list[dict]:
    """Leases on ``env_hash`` whose process is still alive.

    Args:
        paths: the workspace.
        env_hash: the environment.
        clean: delete the dead leases found.
    """
    folder = _lease_dir(paths, env_hash)
    try:
        entries = sorted(folder.glob("*.json"))
    except OSError:
        return []
    alive = []
    for entry in entries:
        try:
            lease = json.loads(entry.read_text(encoding="utf-8"))
            pid, started = int(lease["pid"]), lease.get("create_time")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written or garbage; a half-written lease is not counted
        now_started = process_create_time(pid)
        if now_started is not None and (started is None or abs(now_started - started) < 1.0):
            alive.append(lease)
        elif clean:
            try:
                entry.unlink()
            except OSError:
                pass
    return alive
