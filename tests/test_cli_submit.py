"""The shell side of submission: ``runner submit``, ``logs``, ``wait``, ``cancel``,
``snapshot``; run as real ``runner`` processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner import Run, Workspace

RUNNER = [sys.executable, "-m", "runner"]


def runner(*args: str, cwd: Path, ws: Workspace | None = None, timeout: float = 60,
           **kwargs) -> subprocess.CompletedProcess:
    """Run the command line in ``cwd`` (with RUNNER_WORKSPACE when ``ws`` is given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    if ws is not None:
        env["RUNNER_WORKSPACE"] = str(ws.root)
    return subprocess.run([*RUNNER, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a few scripts and no workspace above it."""
    folder = tmp_path / "project"
    folder.mkdir()
    scripts = {
        "hello.py": "import sys\nprint('hello', *sys.argv[1:])\n",
        "boom.py": "raise ValueError('boom')\n",
        "slow.py": "import time\nprint('started', flush=True)\ntime.sleep(60)\n",
        "metric.py": "from runner import Run\nRun.get_context().log('m', 2)\n",
    }
    for name, text in scripts.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / ".gitignore").write_text("data/\n")
    (folder / "data").mkdir()
    (folder / "data" / "big.bin").write_bytes(b"x" * 10)
    return folder


def test_submit_in_a_new_folder_makes_a_workspace_and_streams_the_run(project):
    """The first `runner submit` makes a workspace here, says so, streams, exits 0."""
    result = runner("submit", "hello.py", "a b", "--flag", cwd=project)
    assert 0 == result.returncode, result.stderr
    assert "Created a workspace" in result.stderr
    assert "hello a b --flag" in result.stdout
    assert "Execution Summary" in result.stdout
    assert (project / ".runner").is_dir()


def test_submit_of_a_failing_script_exits_7_with_one_line_on_stderr(project):
    """A run that fails makes `runner submit` exit 7 and print the error on one line."""
    Workspace.create(project)
    result = runner("submit", "boom.py", cwd=project)
    assert 7 == result.returncode
    assert "ValueError: boom" in result.stdout
    assert 1 == len(result.stderr.strip().splitlines())
    assert "User program failed with ValueError: boom" in result.stderr


def test_submit_options_reach_the_run(project):
    """--experiment, --env-var, --tag and --python are recorded on the run."""
    ws = Workspace.create(project)
    (project / "env.py").write_text("import os\nprint('VAR=' + os.environ['MY_VAR'])\n")
    result = runner("submit", "--experiment", "cli-exp", "--env-var", "MY_VAR=42",
                    "--tag", "sweep=1", "--python", sys.executable, "--detach", "env.py",
                    cwd=project)
    assert 0 == result.returncode, result.stderr
    run = Run.get(ws, result.stdout.strip())
    run.wait_for_completion()
    assert "cli-exp" == run.experiment.name
    assert {"sweep": "1"} == run.get_tags()
    assert "VAR=42" in (run.folder / "logs" / "std_log.txt").read_text()


def test_dry_run_lists_captured_and_ignored_files_and_writes_nothing(project):
    """--dry-run shows what the snapshot would hold and what is ignored, runs nothing."""
    result = runner("submit", "--dry-run", "hello.py", cwd=project)
    assert 0 == result.returncode, result.stderr
    assert "hello.py" in result.stdout
    assert "data" in result.stdout.split("Ignored")[1]
    assert not (project / ".runner").exists()


def test_detach_then_wait_logs_and_metrics(project):
    """A detached run can be waited for, its log printed and its metrics read later."""
    ws = Workspace.create(project)
    run_id = runner("submit", "--detach", "metric.py", cwd=project).stdout.strip()
    waited = runner("wait", run_id, cwd=project, ws=ws)
    assert (0, "Completed") == (waited.returncode, waited.stdout.strip())
    assert {"m": 2} == Run.get(ws, run_id).get_metrics()
    logs = runner("logs", run_id, cwd=project, ws=ws)
    assert 0 == logs.returncode


def test_logs_follow_and_cancel_a_running_run(project):
    """`runner logs -f` follows a running run until `runner cancel` ends it (exit 0)."""
    ws = Workspace.create(project)
    ws.paths.config.write_text("cancel_grace_seconds: 1\n")
    run_id = runner("submit", "--detach", "slow.py", cwd=project).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    follower = subprocess.Popen([*RUNNER, "logs", "-f", run_id], cwd=project, env=env,
                                stdout=subprocess.PIPE, text=True)
    try:
        log = ws.paths.run_dir(run_id) / "logs" / "std_log.txt"
        deadline = time.monotonic() + 20
        while "started" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        canceled = runner("cancel", run_id, cwd=project, ws=ws)
        assert 0 == canceled.returncode, canceled.stderr
        assert canceled.stdout.strip().endswith("Canceled")
        out, _ = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert "started" in out
    assert 8 == runner("wait", run_id, cwd=project, ws=ws).returncode


def test_snapshot_list_restore_and_diff(project, tmp_path):
    """`runner snapshot` lists, restores and diffs the snapshots of two runs."""
    ws = Workspace.create(project)
    first = runner("submit", "--detach", "hello.py", cwd=project).stdout.strip()
    (project / "hello.py").write_text("print('changed')\n")
    second = runner("submit", "--detach", "hello.py", cwd=project).stdout.strip()
    listed = runner("snapshot", first, "--list", cwd=project, ws=ws)
    assert "hello.py" in listed.stdout.split()
    restored = runner("snapshot", first, "--restore", str(tmp_path / "r"), cwd=project, ws=ws)
    assert 0 == restored.returncode, restored.stderr
    assert "hello" in (tmp_path / "r" / "hello.py").read_text()
    diff = runner("snapshot", "diff", first, second, cwd=project, ws=ws)
    assert 0 == diff.returncode, diff.stderr
    assert "hello.py" in diff.stdout
    assert "+print('changed')" in diff.stdout
    for run_id in (first, second):
        Run.get(ws, run_id).wait_for_completion()


@pytest.mark.parametrize("command", ["cancel", "logs", "wait", "snapshot"])
def test_unknown_run_ids_exit_4_with_one_line(project, command):
    """cancel, logs, wait and snapshot of an unknown run id: one line, exit code 4."""
    ws = Workspace.create(project)
    result = runner(command, "nope_123", cwd=project, ws=ws)
    assert 4 == result.returncode
    assert ["runner: error: no run 'nope_123'"] == [
        line[:len("runner: error: no run 'nope_123'")] for line in result.stderr.splitlines()]


def test_submit_of_a_missing_script_exits_2_and_leaves_nothing(project):
    """A script that is not there: exit 2, one line, no run recorded."""
    ws = Workspace.create(project)
    result = runner("submit", "nope.py", cwd=project)
    assert 2 == result.returncode
    assert "nope.py" in result.stderr
    assert [] == list(ws.paths.runs.iterdir())


def test_the_console_script_is_installed():
    """The `runner` command exists on PATH after installation."""
    assert shutil.which("runner") or shutil.which("runner", path=os.path.dirname(sys.executable))
