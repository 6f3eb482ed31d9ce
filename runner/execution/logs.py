"""Following a run's log files as they grow.

Logs are bytes written by any program; they are decoded as UTF-8 with
replacement, so non-UTF-8 output never breaks a reader. Watchers wake on file
events (watchdog) rather than sleeping.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from pathlib import Path
from typing import Any

LOG_ORDER = ("logs/env_build.txt", "logs/std_log.txt")


class LogFollower:
    """Reads what was appended to one file since the last read, line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._partial = b""

    def read(self, final: bool = False) -> list[str]:
        """Complete new lines (and, when ``final``, a last unterminated one)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        return [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines]


def read_text(path: Path) -> str:
    """A whole log, decoded leniently ('' if it does not exist)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


class Watcher:
    """Wakes a waiter whenever anything changes in the watched folders.

    On Linux it reads inotify directly (no thread, nothing to import beyond
    ctypes); elsewhere watchdog's observer sets an event. ``wait(timeout)``
    returns early on a change.
    """

    # IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE
    _MASK = 0x2 | 0x4 | 0x8 | 0x80 | 0x100 | 0x200

    def __init__(self, folders: list[Path]) -> None:
        self._fd: int | None = None
        self._observer: Any = None
        self._event = threading.Event()
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        if sys.platform.startswith("linux"):
            self._fd = _inotify(folders, self._MASK)
        if self._fd is None:
            self._start_watchdog(folders)

    def _start_watchdog(self, folders: list[Path]) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        event = self._event

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, _event: Any) -> None:
                event.set()

        self._observer = Observer()
        handler = _Wake()
        for folder in folders:
            self._observer.schedule(handler, str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change; True if one came."""
        if self._fd is None:
            changed = self._event.wait(timeout)
            self._event.clear()
            return changed
        poller = select.poll()  # not select(): descriptors above 1,024 must work too
        poller.register(self._fd, select.POLLIN)
        if not poller.poll(max(timeout, 0.0) * 1000):
            return False
        try:
            while os.read(self._fd, 65536):
                pass
        except BlockingIOError:
            pass
        return True

    def stop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _inotify(folders: list[Path], mask: int) -> int | None:
    """An inotify descriptor watching ``folders``, or None where it cannot be had."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    for folder in folders:
        if libc.inotify_add_watch(fd, os.fsencode(folder), mask) < 0:
            os.close(fd)
            return None
    return fd
