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


def _own_file(paths: WorkspacePaths, pid: int, port: int) -> Path:
    return paths.runner_dir / "studios" / f"{pid}-{port}.json"


def _atomic(target: Path, record: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, target)


def write(paths: WorkspacePaths, url: str, *, host: str, port: int,
          token_required: bool) -> dict[str, Any]:
    """Record this process as the studio serving the workspace; returns the record.

    Each studio also keeps its own record under ``.runner/studios/``, so that when the
    studio named by ``studio.json`` stops while another still serves, the other one
    is named there again.
    """
    pid, started = _proc.identity()
    record = {"url": url.rstrip("/"), "pid": pid, "start": started, "host": host,
              "port": port, "token_required": token_required}
    _atomic(_own_file(paths, pid, port), record)
    _atomic(studio_file(paths), record)
    return record


def remove(paths: WorkspacePaths, url: str | None = None) -> None:
    """Forget this studio (this process's, at ``url`` when given).

    ``studio.json`` names another studio still serving the workspace afterwards, if
    there is one (the newest), and is removed only when none is left; a record that is
    not this studio's is left alone.
    """
    pid = os.getpid()
    own = [p for p in (paths.runner_dir / "studios").glob(f"{pid}-*.json")
           if url is None or (_load(p) or {}).get("url") == url.rstrip("/")]
    for path in own:
        path.unlink(missing_ok=True)
    target = studio_file(paths)
    record = _load(target)
    if (record is None or record.get("pid") != pid
            or (url is not None and record.get("url") != url.rstrip("/"))):
        return
    others = _live_records(paths)
    if others:
        _atomic(target, others[-1])
    else:
        target.unlink(missing_ok=True)


def _live_records(paths: WorkspacePaths) -> list[dict[str, Any]]:
    """Records of the studios still serving, oldest first."""
    found = []
    for path in (paths.runner_dir / "studios").glob("*.json"):
        record = _load(path)
        if record is None or not _valid(record):
            continue
        if _proc.is_alive(record["pid"], record.get("start")):
            found.append((path.stat().st_mtime, record))
        else:
            path.unlink(missing_ok=True)  # a studio that was killed
    return [record for _, record in sorted(found, key=lambda item: item[0])]


def _valid(record: dict[str, Any]) -> bool:
    return (isinstance(record.get("pid"), int) and isinstance(record.get("url"), str)
            and record["url"].startswith("http"))


def serving(paths: WorkspacePaths) -> dict[str, Any] | None:
    """The record of the studio serving the workspace, or None when none is alive."""
    record = _load(studio_file(paths))
    if record is None or not _valid(record):
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
