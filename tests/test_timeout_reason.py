"""A run ended by its time limit says so: the reason is printed and the exit code is its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner import Workspace

ROOT = Path(__file__).resolve().parent.parent


def _runner(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runner", "--workspace", str(ws.root), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_submit_past_its_timeout_exits_10_and_prints_the_reason(ws: Workspace, tmp_path: Path):
    """`runner submit --timeout 1` of a slow script exits 10 and names the limit."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "slow.py").write_text("import time\ntime.sleep(60)\n")
    proc = _runner(ws, "submit", "-d", str(src), "--timeout", "1", "slow.py")
    assert 10 == proc.returncode, proc.stderr
    assert "exceeded max_run_duration_seconds=1" in proc.stderr
    assert "Reason: Run exceeded max_run_duration_seconds=1" in proc.stdout
    run_id = ws.store.query_runs()[0]["id"]
    waited = _runner(ws, "wait", run_id)
    assert (10, "Canceled") == (waited.returncode, waited.stdout.strip())
    assert "exceeded max_run_duration_seconds=1" in waited.stderr


def test_a_canceled_run_still_exits_8(ws: Workspace, tmp_path: Path):
    """A run canceled on request keeps exit code 8, with no time-limit reason."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "slow.py").write_text("import time\ntime.sleep(60)\n")
    run_id = _runner(ws, "submit", "--detach", "-d", str(src), "slow.py").stdout.strip()
    _runner(ws, "cancel", "--no-wait", run_id)
    waited = _runner(ws, "wait", run_id)
    assert (8, "") == (waited.returncode, waited.stderr)
