"""Following a run's log files as they grow.

Logs are bytes written by any program; they are decoded as UTF-8 with
replacement, so non-UTF-8 output never breaks a reader. Watchers wake on file
events (watchdog) rather than sleeping.
"""

from __future__ import annotations

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
    """Sets ``event`` whenever anything changes in the watched folders."""

    def __init__(self, folders: list[Path], event: threading.Event) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, _event: Any) -> None:
                event.set()

        self._observer = Observer()
        handler = _Wake()
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._observer.schedule(handler, str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=2)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
