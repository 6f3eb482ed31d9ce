"""A script started ahead of its run's preparation runs only once it is let go.

The supervisor starts the interpreter of a script in a ready environment before
it makes the working copy, so the interpreter's start overlaps the copy; the
script's code runs only after the supervisor writes its byte, and never when
the supervisor closes the pipe instead (or dies).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from runner import Experiment, ScriptRunConfig, Workspace
from runner.execution import launch, shim


def _plan(ws: Workspace, folder: Path, script: str) -> launch.LaunchPlan:
    run_dir = folder / "run"
    (run_dir / ".sys").mkdir(parents=True)
    (run_dir / script).write_text(
        "import os\nopen('ran.txt', 'w').write(os.environ.get('RUNNER_HOLD_FD', 'gone'))\n")
    return launch.plan_launch(
        run_id="held_1", experiment="held", workspace_root=ws.root, run_dir=run_dir,
        python=sys.executable, script=script, arguments=[], command=None, env_vars={},
        shim=shim.ensure_shim(ws.paths), base_env=dict(os.environ))


def test_a_held_script_runs_only_when_released(ws: Workspace, tmp_path: Path):
    """Before the byte, nothing of the script has run; after it, it runs, without the fd."""
    plan = _plan(ws, tmp_path, "s.py")
    proc, fd = launch.spawn_held(plan)
    time.sleep(0.5)  # its interpreter is up and waiting by now
    before = (plan.cwd / "ran.txt").exists()
    launch.release(fd)
    code = proc.wait(timeout=60)
    assert (False, 0, "gone") == (before, code, (plan.cwd / "ran.txt").read_text())


def test_a_held_script_never_runs_when_the_pipe_closes(ws: Workspace, tmp_path: Path):
    """Closing the descriptor (what the supervisor's death does) ends it unrun."""
    plan = _plan(ws, tmp_path, "s.py")
    proc, fd = launch.spawn_held(plan)
    os.close(fd)
    code = proc.wait(timeout=60)
    assert (0, False) == (code, (plan.cwd / "ran.txt").exists())


def test_releasing_a_held_script_that_is_gone_is_no_failure(ws: Workspace, tmp_path: Path):
    """A held process killed meanwhile: release() does not raise; its status tells."""
    plan = _plan(ws, tmp_path, "s.py")
    proc, fd = launch.spawn_held(plan)
    proc.kill()
    proc.wait(timeout=60)
    launch.release(fd)
    assert (-9, False) == (proc.returncode, (plan.cwd / "ran.txt").exists())


def test_a_submitted_script_sees_its_whole_working_copy_at_its_first_line(
        exp: Experiment, tmp_path: Path):
    """The copy of a 400-file tree is complete before the script's first line runs."""
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    for i in range(400):
        (src / "data" / f"f{i:03d}.txt").write_text(str(i))
    (src / "count.py").write_text(
        "import json, os\n"
        "seen = len(os.listdir('data'))\n"
        "os.makedirs('outputs', exist_ok=True)\n"
        "json.dump(seen, open('outputs/seen.json', 'w'))\n")
    run = exp.submit(ScriptRunConfig(str(src), "count.py"))
    run.wait_for_completion()
    assert ("Completed", 400) == (run.get_status(),
                                  json.loads((Path(run.folder) / "outputs" / "seen.json")
                                             .read_text()))


def test_a_held_process_that_never_reads_its_pipe_is_killed(monkeypatch):
    """_drop_held: closing the pipe, then a kill after HELD_EXIT_WAIT for a process that hangs."""
    import subprocess

    from runner.execution import supervisor

    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["sleep", "60"], pass_fds=(read_end,))
    os.close(read_end)
    monkeypatch.setattr(supervisor, "HELD_EXIT_WAIT", 0.2)
    supervisor._drop_held(proc, write_end)
    assert -9 == proc.returncode
