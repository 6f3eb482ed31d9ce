"""The driver log of a Ray job, tailed into the run's ``logs/std_log.txt``.

Incremental, in constant memory: a thread reads the State API's log stream
(``/api/v0/logs/stream``, chunked HTTP) and appends each chunk as it comes; after
a broken connection it reconnects and skips the bytes it has. At the end,
:meth:`LogTail.finish` reads the whole file once more (``/api/v0/logs/file``),
skipping what it has, so nothing the stream had not delivered yet is missed.

Lines that start with ``runner-event:`` (:func:`runner.api.remote_http.announce`)
are the job's messages to the run's owner (when the script started, what could
not be sent); they are handed to ``on_event`` as they pass, which works even
while the tracking server is unreachable.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from ..api.remote_http import EVENT_PREFIX, parse_event
from .ray_jobs import JobsApiError, JobsClient

#: Bytes read from the stream at a time.
CHUNK = 64 * 1024
#: A partial line longer than this is not scanned for events.
MAX_LINE = 1 << 20


class LogTail:
    """Follows one job's driver log into ``path``. See the module docstring."""

    def __init__(self, client: JobsClient, submission_id: str, path: Path,
                 on_event: Callable[[dict[str, Any]], None], offset: int = 0) -> None:
        self.client = client
        self.submission_id = submission_id
        self.path = path
        self.on_event = on_event
        self.offset = offset
        self.node_id: str | None = None
        self.last_error: str | None = None
        self._partial = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, node_id: str) -> None:
        """Start following (once the job has a driver node)."""
        if self._thread is not None:
            return
        self.node_id = node_id
        self._thread = threading.Thread(target=self._follow, name="runner-ray-log", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                stream = self.client.open_log(self.submission_id, self.node_id or "",
                                              follow=True)
            except JobsApiError as exc:
                self.last_error = str(exc)
                self._stop.wait(1.0)
                continue
            try:
                self._copy(stream)
            except (OSError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            self._stop.wait(0.5)

    def _copy(self, stream: Any) -> None:
        """Append what ``stream`` has past :attr:`offset` (it starts at byte 0)."""
        skip = self.offset
        while not self._stop.is_set():
            chunk = stream.read1(CHUNK) if hasattr(stream, "read1") else stream.read(CHUNK)
            if not chunk:
                return
            with self._lock:
                if self._stop.is_set():
                    return
                chunk, skip = _past(chunk, skip)
                if chunk:
                    self._append(chunk)

    def _append(self, chunk: bytes) -> None:
        with open(self.path, "ab") as f:
            f.write(chunk)
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE:
            self._partial = b""
        for line in lines:
            self._event(line)

    def _event(self, line: bytes) -> None:
        """Pass the event ``line`` holds, if any, to :attr:`on_event`."""
        if _MARKER in line:
            event = parse_event(line.decode("utf-8", "replace"))
            if event is not None:
                self.on_event(event)

    def finish(self) -> None:
        """Stop following and append whatever the file holds beyond what was copied."""
        # The follower may sit in a blocking read: closing its stream from here would
        # wait for that read (the reader's lock), so it is left to end with this
        # process; once the flag is set it appends nothing more.
        with self._lock:
            self._stop.set()
        if self.node_id is None:
            return
        with self._lock:
            try:
                stream = self.client.open_log(self.submission_id, self.node_id, follow=False)
            except JobsApiError as exc:
                self.last_error = str(exc)
                return
            try:
                skip = self.offset
                while chunk := stream.read(CHUNK):
                    chunk, skip = _past(chunk, skip)
                    if chunk:
                        self._append(chunk)
            except (OSError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                stream.close()
            self._event(self._partial)  # a last line without its newline
            self._partial = b""


_MARKER = EVENT_PREFIX.encode()


def _past(chunk: bytes, skip: int) -> tuple[bytes, int]:
    """What of ``chunk`` lies beyond the ``skip`` bytes still to pass over, and what is
    left to pass over after it."""
    if len(chunk) <= skip:
        return b"", skip - len(chunk)
    return chunk[skip:], 0
