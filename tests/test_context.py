"""Run.get_context(): an offline run outside a submitted run, the run's singleton inside
one, and a logging path that needs nothing but the standard library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from runner import Experiment, Run, RunEnvironmentError, Workspace
from runner.inrun import context as _context
from runner.inrun.offline import OfflineRun


def _in_run(code: str, ws: Workspace, run_id: str, exp: Experiment) -> str:
    """Run ``code`` in a child process that has the run context of ``run_id``."""
    env = {**os.environ, **_context.context_environ(str(ws.root), run_id, exp.name)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert 0 == proc.returncode, proc.stderr
    return proc.stdout


_NON_STDLIB = """
import json, sys
bad = sorted(
    m for m in set(sys.modules) - BEFORE
    if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "runner"
)
print(json.dumps(bad))
"""


# -------------------------------------------------------------------- offline


def test_outside_a_run_get_context_is_an_offline_run_that_prints(
    capsys: pytest.CaptureFixture[str],
):
    """Outside a submitted run, logging prints 'Attempted to log ...' and stores nothing."""
    run = Run.get_context()

    run.log("acc", 0.5)
    run.log_row("r", x=1)

    assert isinstance(run, OfflineRun)
    assert run.id.startswith("OfflineRun_")
    assert ("Attempted to log scalar metric acc:\n0.5\n"
            "Attempted to log row metric r:\n{'x': 1}\n") == capsys.readouterr().out


def test_offline_run_supports_the_script_calls(capsys: pytest.CaptureFixture[str]):
    """Tags, uploads, children and the with-block all work offline, printing."""
    run = Run.get_context()

    with run.child_run("kid") as child:
        child.tag("k", "v")
    run.upload_file("x.txt", "x.txt")
    run.flush()
    run.complete()

    out = capsys.readouterr().out
    assert f"{run.id}.kid" == child.id
    assert f"[START] Run {child.id} context" in out
    assert "Attempted to set tag k" in out
    assert "Attempted to upload file x.txt" in out


def test_offline_run_has_no_readers():
    """An offline run has no get_metrics or get_status, as in Azure ML."""
    run = Run.get_context()

    assert (False, False) == (hasattr(run, "get_metrics"), hasattr(run, "get_status"))


def test_allow_offline_false_outside_a_run_is_refused():
    """get_context(allow_offline=False) outside a submitted run raises RunEnvironmentError."""
    with pytest.raises(RunEnvironmentError, match="outside a submitted run"):
        Run.get_context(allow_offline=False)


def test_context_environ_names_the_run():
    """The launcher's variables name the workspace, run and experiment."""
    env = _context.context_environ("/ws", "r1", "exp")

    assert {"RUNNER_WORKSPACE": "/ws", "RUNNER_RUN_ID": "r1", "RUNNER_EXPERIMENT": "exp"} \
        == {k: v for k, v in env.items() if k.startswith("RUNNER_")}
    assert "r1" == env["AZUREML_RUN_ID"]


def test_a_partial_context_is_offline(monkeypatch: pytest.MonkeyPatch):
    """Without all three RUNNER_ variables the process is not in a run."""
    monkeypatch.setenv("RUNNER_RUN_ID", "r1")
    _context.reset()

    assert isinstance(Run.get_context(), OfflineRun)


# ------------------------------------------------------------- in a run


def test_in_a_run_get_context_is_one_singleton_that_logs_to_the_store(
    ws: Workspace, exp: Experiment, script_run,
):
    """Inside a submitted run get_context() returns the same Run, and its values are stored."""
    run_id = script_run()
    code = (
        "from runner import Run\n"
        "a = Run.get_context()\n"
        "b = Run.get_context(allow_offline=False)\n"
        "a.log('loss', 0.5)\n"
        "b.log('loss', 0.25)\n"
        "a.log_row('r', x=1)\n"
        "print(a is b, a.id)\n"
    )

    out = _in_run(code, ws, run_id, exp)

    assert f"True {run_id}" == out.strip()
    assert {"loss": [0.5, 0.25], "r": {"x": 1}} == Run(exp, run_id).get_metrics()


def test_in_a_run_complete_and_fail_do_not_set_the_status(
    ws: Workspace, exp: Experiment, monkeypatch: pytest.MonkeyPatch, script_run,
):
    """Inside a submitted run, complete() flushes and fail() records the error; status stays."""
    run_id = script_run()
    for key, value in _context.context_environ(str(ws.root), run_id, exp.name).items():
        monkeypatch.setenv(key, value)
    _context.reset()
    run = Run.get_context()

    run.log("x", 1.0)
    run.complete()
    run.fail("bad data")
    run.cancel()

    row = ws.store.get_run(run_id)
    assert ("Running", "bad data") == (row["status"], row["error"]["error"]["message"])
    assert {"x": 1.0} == Run(exp, run_id).get_metrics()


def test_in_a_run_the_workspace_variable_is_the_workspace(
    ws: Workspace, exp: Experiment, tmp_path, monkeypatch: pytest.MonkeyPatch, script_run,
):
    """A script in a run finds its workspace from RUNNER_WORKSPACE wherever its cwd is."""
    run_id = script_run()
    for key, value in _context.context_environ(str(ws.root), run_id, exp.name).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    assert ws.root == Workspace.from_config().root


# ------------------------------------------------------------- stdlib only


def test_offline_logging_imports_only_the_standard_library():
    """import runner + Run.get_context().log() offline load no third-party module."""
    code = (
        "import sys\nBEFORE = set(sys.modules)\n"
        "import runner\nfrom runner import Run\nRun.get_context().log('x', 1)\n"
        + _NON_STDLIB
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("RUNNER_")})

    assert 0 == proc.returncode, proc.stderr
    assert [] == json.loads(proc.stdout.splitlines()[-1])


def test_in_run_logging_imports_only_the_standard_library(
    ws: Workspace, exp: Experiment, script_run,
):
    """import runner + Run.get_context().log() in a run load no third-party module."""
    run_id = script_run()
    code = (
        "import sys\nBEFORE = set(sys.modules)\n"
        "import runner\nfrom runner import Run\nrun = Run.get_context()\n"
        "run.log('x', 1)\nrun.log('y', 0.5)\nrun.flush()\nrun.get_metrics()\n"
        + _NON_STDLIB
    )

    out = _in_run(code, ws, run_id, exp)

    assert [] == json.loads(out.splitlines()[-1])
    assert {"x": 1, "y": 0.5} == Run(exp, run_id).get_metrics()
