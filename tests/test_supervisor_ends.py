"""What the supervisor ends and how it says why: daemons that escape the process group,
leftovers after a normal exit, the time limit."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import psutil
import pytest

from runner import Experiment, ScriptRunConfig, Workspace

_DAEMON = """
    import os, sys, time
    os.makedirs("outputs", exist_ok=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open("outputs/daemon.pid.tmp", "w").write(str(os.getpid()))
            os.replace("outputs/daemon.pid.tmp", "outputs/daemon.pid")
            time.sleep(60)
        os._exit(0)
    os.wait()
    while not os.path.exists("outputs/daemon.pid"):
        time.sleep(0.02)
    time.sleep(float(sys.argv[1]))
"""


@pytest.fixture
def fast(ws: Workspace) -> Workspace:
    """A workspace with a short cancel grace."""
    ws.paths.config.write_text("cancel_grace_seconds: 1\n")
    ws._config = None
    return ws


def _submit(ws: Workspace, tmp_path: Path, seconds: float):
    src = tmp_path / "src"
    src.mkdir()
    (src / "daemon.py").write_text(textwrap.dedent(_DAEMON))
    return Experiment(ws, "daemon").submit(
        ScriptRunConfig(src, "daemon.py", arguments=[seconds]))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_file(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


def test_cancel_ends_a_double_forked_setsid_daemon(fast: Workspace, tmp_path: Path):
    """A daemon that left the script's session is ended when the run is canceled."""
    run = _submit(fast, tmp_path, 60)
    pid = int(_wait_file(run.folder / "outputs" / "daemon.pid"))
    run.cancel()
    assert "Canceled" == run.wait_for_completion()["status"]
    assert _gone(pid)


def test_a_daemon_left_behind_by_a_finished_script_is_ended(fast: Workspace, tmp_path: Path):
    """A setsid() daemon still running when the script exits 0 ends with the run."""
    run = _submit(fast, tmp_path, 0)
    assert "Completed" == run.wait_for_completion()["status"]
    pid = int((run.folder / "outputs" / "daemon.pid").read_text())
    assert _gone(pid)


_BACKGROUND = """
    import os, subprocess, sys
    os.makedirs("outputs", exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open("outputs/child.pid", "w").write(str(child.pid))
"""


def test_a_background_job_left_in_the_script_group_is_ended(fast: Workspace, tmp_path: Path):
    """A child the script started and left running (still in its process group) ends
    with the run, though the script itself exited 0."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "background.py").write_text(textwrap.dedent(_BACKGROUND))
    run = Experiment(fast, "background").submit(ScriptRunConfig(src, "background.py"))
    assert "Completed" == run.wait_for_completion()["status"]
    assert _gone(int((run.folder / "outputs" / "child.pid").read_text()))


def test_has_children_is_false_only_when_no_child_is_left_unreaped():
    """The check the supervisor trusts to skip its process scans: a running child and
    an exited but unreaped one both count; once reaped, nothing does (checked in a
    fresh process, which has no other children)."""
    import json
    import subprocess
    import sys

    code = textwrap.dedent("""
        import json, os, subprocess, sys
        from runner.execution.supervisor import _has_children
        seen = [_has_children()]
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE)
        seen.append(_has_children())
        child.stdin.close()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        seen.append(_has_children())
        child.wait()
        seen.append(_has_children())
        print(json.dumps(seen))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert [False, True, True, False] == json.loads(out)
