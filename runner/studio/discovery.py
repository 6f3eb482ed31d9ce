"""Which studio serves a workspace: ``.runner/studio.json``.

Why it exists: ``run.get_portal_url()`` (printed by ``wait_for_completion`` as
"Web View") should point at the run's studio page when ``runner studio`` is
serving the workspace, from any process. The studio writes this file while it
serves and removes it when it stops; a reader trusts it only while the process
it names is alive (pid + process start time, as for run owners), so a studio
killed with SIGKILL leaves a file that is simply ignored.

Standard library only: ``get_portal_url`` may be called inside a bare
virtualenv. The file holds no secret (no token), and is written atomically::

    {"url": "http://127.0.0.1:8765", "pid": 4242, "start": 1732790000.12,
     "host": "127.0.0.1", "port": 8765, "token_required": false}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.paths import WorkspacePaths
from ..store import proc as _proc

FILE_NAME = "studio.json"


def studio_file(paths: WorkspacePaths) -> Path:
    """Where the serving studio of a workspace is recorded."""
    return paths.runner_dir / FILE_NAME


def write(paths: WorkspacePaths, url: str, *, host: str, port: int,
          token_required: bool) -> dict[str, Any]:
    """Record this process as the studio serving the workspace; returns the record."""
    pid, started = _proc.identity()
    record = {"url": url.rstrip("/"), "pid": pid, "start": started, "host": host,
              "port": port, "token_required": token_required}
    target = studio_file(paths)
    tmp = target.with_name(f".{FILE_NAME}.{pid}.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, target)
    return record


def remove(paths: WorkspacePaths) -> None:
    """Remove the record if it is this process's (a newer studio's record stays)."""
    target = studio_file(paths)
    record = _load(target)
    if record is not None and record.get("pid") == os.getpid():
        try:
            target.unlink()
        except FileNotFoundError:
            pass


def serving(paths: WorkspacePaths) -> dict[str, Any] | None:
    """The record of the studio serving the workspace, or None when none is alive."""
    record = _load(studio_file(paths))
    if record is None or not isinstance(record.get("pid"), int):
        return None
    if not isinstance(record.get("url"), str) or not record["url"].startswith("http"):
        return None
    if not _proc.is_alive(record["pid"], record.get("start")):
        return None
    return record


def run_url(paths: WorkspacePaths, run_id: str) -> str | None:
    """The studio page of ``run_id`` when a studio serves the workspace, else None."""
    record = serving(paths)
    if record is None:
        return None
    return f"{record['url']}/runs/{quote(run_id, safe='')}"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
