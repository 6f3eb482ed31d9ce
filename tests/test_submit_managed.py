"""Submitted runs in managed environments: built in Preparing, cached, streamed, recorded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner import CondaDependencies, Environment, Experiment, RunFailed, ScriptRunConfig

pytestmark = pytest.mark.slow


def offline_env(wheelhouse: Path, *packages: str) -> Environment:
    """A managed environment installing ``packages`` from the local wheelhouse only."""
    env = Environment("offline")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=list(packages))
    env.python.conda_dependencies.set_pip_option("--no-index")
    env.python.conda_dependencies.set_pip_option(f"-f {wheelhouse}")
    env.environment_variables = {"RT_MODE": "managed", "RT_SECRET_KEY": "hush"}
    return env


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A script that imports a package only the managed environment has, and logs."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent("""
        import os, sys
        import rt_dep
        from runner import Run
        run = Run.get_context()
        run.log("value", rt_dep.VALUE)
        run.log("mode", os.environ["RT_MODE"])
        print("prefix", sys.prefix)
    """))
    return folder


def test_a_run_in_a_managed_environment_without_runner_logs_metrics(ws, src, wheelhouse,
                                                                       capsys):
    """The environment is built in Preparing, its log streams, and the script logs."""
    exp = Experiment(ws, "managed")
    run = exp.submit(ScriptRunConfig(src, "train.py", environment=offline_env(
        wheelhouse, "rt_dep")))
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "Completed" == details["status"], out
    assert {"value": 42, "mode": "managed"} == run.get_metrics()
    assert "Streaming logs/env_build.txt" in out
    assert str(ws.paths.envs) in (run.folder / "logs" / "std_log.txt").read_text()
    assert any(p.startswith("rt_dep") for p in details["runDefinition"]["environmentPackages"])
    assert "hush" not in str(details["runDefinition"])
    env_hash = details["properties"]["runner.environment.hash"]
    again = exp.submit(ScriptRunConfig(src, "train.py", environment=offline_env(
        wheelhouse, "rt_dep")))
    assert "Completed" == again.wait_for_completion()["status"]
    assert env_hash == again.get_properties()["runner.environment.hash"]


def test_a_package_that_does_not_exist_fails_the_run_quoting_pip(ws, src, wheelhouse):
    """A failed build ends the run Failed with pip's words and the log's name; nothing cached."""
    run = Experiment(ws, "managed").submit(ScriptRunConfig(
        src, "train.py", environment=offline_env(wheelhouse, "no-such-package-xyz")))
    details = run.wait_for_completion(raise_on_error=False)
    message = details["error"]["error"]["message"]
    assert "Failed" == details["status"]
    assert "no-such-package-xyz" in message
    assert "env_build.txt" in message
    assert [] == [p for p in ws.paths.envs.iterdir() if not p.name.startswith(".")]


def test_a_curated_environment_is_usable_by_name(ws):
    """Environment.get finds the curated 'sklearn' and 'minimal' definitions."""
    assert "sklearn" == Environment.get(ws, "sklearn").name
    assert [] == Environment.get(ws, "minimal").python.conda_dependencies.pip_packages


def test_a_failed_build_points_the_raised_failure_to_the_build_log(ws, src, wheelhouse):
    """RunFailed for a failed environment build names logs/env_build.txt, which exists."""
    run = Experiment(ws, "managed").submit(ScriptRunConfig(
        src, "train.py", environment=offline_env(wheelhouse, "no-such-package-xyz")))
    with pytest.raises(RunFailed) as caught:
        run.wait_for_completion()
    log = str(caught.value).rsplit("(log: ", 1)[1].rstrip(")")
    assert (run.folder / "logs" / "env_build.txt", True) == (Path(log), Path(log).is_file())
