"""HyperDrive sweeps for real: a parent run whose owner process submits the trials through
the local queue, stops the weak ones, and can be canceled, killed and resumed.

Trials are tiny scripts (no third-party imports) that log ``score = x * step``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runner import (
    BanditPolicy,
    BayesianParameterSampling,
    Experiment,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    Run,
    RunFailed,
    ScriptRunConfig,
    UsageError,
    Workspace,
    choice,
    uniform,
)
from runner.store import proc as _proc

#: Logs score = x * step for ``--steps`` steps, ``--pause`` seconds apart.
TRIAL = """\
import argparse, os, time
from runner import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--steps", type=int, default=6)
p.add_argument("--pause", type=float, default=0.2)
p.add_argument("--fail", action="store_true")
a = p.parse_args()
os.makedirs("outputs", exist_ok=True)
open("outputs/started.txt", "w").write(str(a.x))
if a.fail:
    raise SystemExit(3)
run = Run.get_context()
for step in range(1, a.steps + 1):
    run.log("score", a.x * step)
    run.flush()
    time.sleep(a.pause)
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source folder holding the trial script."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "trial.py").write_text(TRIAL)
    return folder


@pytest.fixture
def sweeps(ws: Workspace) -> Experiment:
    """An experiment in a workspace where four runs may run at once, canceled quickly."""
    ws.paths.config.write_text("max_concurrent_runs: 4\ncancel_grace_seconds: 1\n")
    ws._config = None
    return Experiment(ws, "sweeps")


def hd(src: Path, sampling, *, arguments=(), total=4, concurrent=2, policy=None,
       goal=PrimaryMetricGoal.MAXIMIZE) -> HyperDriveConfig:
    """A sweep of trial.py maximising ``score``."""
    return HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), "trial.py", arguments=list(arguments)),
        hyperparameter_sampling=sampling, policy=policy, primary_metric_name="score",
        primary_metric_goal=goal, max_total_runs=total, max_concurrent_runs=concurrent)


def wait_for(predicate, timeout: float = 90.0):
    """Poll ``predicate`` until it is truthy (or fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def by_x(sweep: HyperDriveRun) -> dict[float, dict]:
    """The sweep's trials keyed by their sampled x."""
    return {t["hyperparameters"]["--x"]: t for t in sweep.trials()}


# ------------------------------------------------------------------------ end to end

def test_a_sweep_runs_its_trials_and_the_policy_cancels_the_weak_one(sweeps, src):
    """A grid sweep with a Bandit policy: the trial far behind the best is Canceled with
    the policy's reason and keeps its outputs; the others complete; the best is x=11."""
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(10, 1, 11, 2)}),
                             policy=BanditPolicy(slack_factor=0.1, delay_evaluation=2)))
    assert isinstance(sweep, HyperDriveRun)
    assert "hyperdrive" == sweep.type
    out = io.StringIO()
    details = sweep.wait_for_completion(show_output=True, out=out)

    trials = by_x(sweep)
    assert "Completed" == details["status"]
    assert [10, 1, 11, 2] == list(trials)
    assert "Completed" == trials[10]["status"] == trials[11]["status"]
    stopped = trials[2]
    assert "Canceled" == stopped["status"]
    assert stopped["error"].startswith("BanditPolicy: best score")
    stopped_run = Run.get(sweeps.workspace, stopped["run_id"])
    assert "EarlyTermination" == stopped_run.get_details()["error"]["error"]["code"]
    assert "outputs/started.txt" in stopped_run.get_file_names()
    assert 6 > len(stopped["values"])
    best = sweep.get_best_run_by_primary_metric()
    assert trials[11]["run_id"] == best.id
    assert {"x": "11"} == {k: v for k, v in best.get_details()["parameters"].items()}
    assert ["--x", "11"] == best.get_details()["runDefinition"]["arguments"]
    assert trials[2]["run_id"] in out.getvalue() and "BanditPolicy" in out.getvalue()


def test_the_parent_api_gives_trials_sorted_metrics_by_child_and_a_drawing(sweeps, src):
    """get_children_sorted_by_primary_metric orders best first, get_metrics is by child,
    the parent reopens as a HyperDriveRun, and its HTML draws the trials in SVG."""
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 3, 2)}),
                             arguments=["--steps", "2", "--pause", "0"], total=5,
                             concurrent=3))
    sweep.wait_for_completion()

    ordered = sweep.get_children_sorted_by_primary_metric()
    assert [6, 4, 2] == [item["best_primary_metric"] for item in ordered]
    assert {"--x": 3} == json.loads(ordered[0]["hyperparameters"])
    assert 1 == len(sweep.get_children_sorted_by_primary_metric(top=1))
    metrics = sweep.get_metrics()
    assert {t["run_id"] for t in ordered} == set(metrics)
    assert [3, 6] == metrics[ordered[0]["run_id"]]["score"]
    assert 3 == len(metrics)  # the grid ran out before max_total_runs
    reopened = Run.get(sweeps.workspace, sweep.id)
    assert isinstance(reopened, HyperDriveRun)
    assert [sweep.id] == [r.id for r in sweeps.get_runs() if isinstance(r, HyperDriveRun)]
    from runner.widgets import RunDetails

    html = RunDetails(reopened).to_html()
    assert "<svg" in html and "score by --x" in html and "score over reports" in html
    assert ordered[0]["run_id"] in RunDetails(reopened).to_text()


def test_a_seeded_random_sweep_gives_the_same_trials_twice(sweeps, src):
    """Two sweeps with the same seed run trials with the same sampled values."""
    def values() -> list[float]:
        sweep = sweeps.submit(hd(src, RandomParameterSampling({"--x": uniform(0, 1)}, seed=3),
                                 arguments=["--steps", "1", "--pause", "0"], total=3,
                                 concurrent=3))
        sweep.wait_for_completion()
        return [t["hyperparameters"]["--x"] for t in sweep.trials()]

    assert values() == values()


def test_a_sweep_whose_every_trial_fails_ends_failed(sweeps, src):
    """When every trial fails the parent is Failed, saying so; raise_on_error raises."""
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 2)}),
                             arguments=["--fail"]))
    with pytest.raises(RunFailed, match="All 2 trials of the sweep failed"):
        sweep.wait_for_completion()
    assert "AllTrialsFailed" == sweep.get_details()["error"]["error"]["code"]


# ------------------------------------------------------------------ cancel, kill, resume

def test_cancel_of_the_parent_cancels_every_trial_and_submits_no_more(sweeps, src):
    """Canceling the parent cancels its running trials; no trial is added after; the
    parent ends Canceled."""
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 2, 3, 4)}),
                             arguments=["--steps", "100"]))
    wait_for(lambda: sum(t["status"] == "Running" for t in sweep.trials()) == 2)
    sweep.cancel()
    details = sweep.wait_for_completion()

    trials = sweep.trials()
    assert "Canceled" == details["status"]
    assert 2 == len(trials)
    assert ["Canceled", "Canceled"] == [t["status"] for t in trials]


def test_a_killed_owner_leaves_trials_running_and_resume_goes_on(sweeps, src):
    """When the parent's owner is killed, its running trials still complete, a reader
    marks the parent Failed, and `runner sweep resume` runs the remaining trials."""
    ws = sweeps.workspace
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 2, 3, 4)}),
                             arguments=["--steps", "5"]))
    first = wait_for(lambda: [t for t in sweep.trials() if t["status"] == "Running"]
                     if sum(t["status"] == "Running" for t in sweep.trials()) == 2 else None)
    row = ws.store.get_run(sweep.id)
    assert _proc.is_alive(row["owner_pid"], row["owner_start"])
    os.kill(row["owner_pid"], signal.SIGKILL)
    wait_for(lambda: not _proc.is_alive(row["owner_pid"], row["owner_start"]))

    assert "Failed" == sweep.get_status()
    error = sweep.get_details()["error"]["error"]
    assert "OwnerDied" == error["code"] and "runner sweep resume" in error["message"]
    for trial in first:
        assert "Completed" == Run.get(ws, trial["run_id"]).wait_for_completion()["status"]
    assert 2 == len(sweep.trials())

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_WORKSPACE"] = str(ws.root)
    proc = subprocess.run([sys.executable, "-m", "runner", "sweep", "resume", sweep.id,
                           "--wait"], env=env, capture_output=True, text=True, timeout=120)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    resumed = Run.get(ws, sweep.id)
    assert "Completed" == resumed.get_status()
    assert [1, 2, 3, 4] == list(by_x(resumed))
    assert all(t["status"] == "Completed" for t in resumed.trials())
    assert "1" == resumed.get_tags()["runner.sweep.resumes"]


def test_resume_refuses_a_sweep_that_ended_by_itself_or_a_run_that_is_no_sweep(
        sweeps, src, script_run):
    """Resuming a Completed sweep, or a script run, is a UsageError saying why."""
    from runner.sweep.submit import resume_sweep

    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1)}),
                             arguments=["--steps", "1", "--pause", "0"]))
    sweep.wait_for_completion()
    with pytest.raises(UsageError, match="ended Completed by itself"):
        resume_sweep(sweeps.workspace, sweep.id)
    with pytest.raises(UsageError, match="not a sweep"):
        resume_sweep(sweeps.workspace, script_run())


# ------------------------------------------------------------------------ refusals

def test_unsupported_and_invalid_settings_are_refused_by_name(src):
    """resume_from, resume_child_runs, estimator, bad limits, a non-sampler, a remote
    target and Bayesian sampling with a policy are UsageErrors naming the setting."""
    good = dict(run_config=ScriptRunConfig(str(src), "trial.py"),
                hyperparameter_sampling=GridParameterSampling({"--x": choice(1)}),
                primary_metric_name="score", primary_metric_goal="maximize", max_total_runs=1)
    assert PrimaryMetricGoal.MAXIMIZE == HyperDriveConfig(**good).primary_metric_goal
    for change, message in (
        ({"resume_from": object()}, "resume_from is not supported"),
        ({"resume_child_runs": [object()]}, "resume_child_runs is not supported"),
        ({"estimator": object()}, "estimator is not supported"),
        ({"max_total_runs": 0}, "max_total_runs must be an integer"),
        ({"max_concurrent_runs": 1.5}, "max_concurrent_runs must be an integer"),
        ({"max_duration_minutes": -1}, "max_duration_minutes must be a number"),
        ({"hyperparameter_sampling": {"--x": choice(1)}}, "hyperparameter_sampling must be"),
        ({"run_config": None}, "needs run_config"),
        ({"primary_metric_name": ""}, "primary_metric_name must be"),
        ({"primary_metric_goal": "up"}, "goal 'up' is not valid"),
        ({"run_config": ScriptRunConfig(str(src), "trial.py", compute_target="ray")},
         "not supported for sweeps"),
        ({"hyperparameter_sampling": BayesianParameterSampling({"--x": choice(1, 2)}),
          "policy": BanditPolicy(slack_factor=0.1)}, "does not support early termination"),
    ):
        with pytest.raises(UsageError, match=message):
            HyperDriveConfig(**{**good, **change})


def test_a_bad_sweep_leaves_no_run_and_an_unknown_config_is_refused(sweeps, src):
    """A sweep over a missing script is refused before anything is written; submitting an
    object that is no config names what submit takes."""
    with pytest.raises(UsageError, match="does not exist"):
        sweeps.submit(HyperDriveConfig(
            run_config=ScriptRunConfig(str(src), "missing.py"),
            hyperparameter_sampling=GridParameterSampling({"--x": choice(1)}),
            primary_metric_name="score", primary_metric_goal="maximize", max_total_runs=1))
    assert [] == sweeps.workspace.store.query_runs(include_children=True)
    with pytest.raises(UsageError, match="ScriptRunConfig or a HyperDriveConfig"):
        sweeps.submit(object())


def test_max_duration_cancels_the_running_trials_and_ends_the_sweep(sweeps, src):
    """After max_duration_minutes the running trials are Canceled naming the limit, no
    trial is added, and the sweep ends Completed."""
    config = hd(src, GridParameterSampling({"--x": choice(1, 2, 3)}), arguments=["--steps",
                                                                                 "200"])
    config.max_duration_minutes = 0.02
    sweep = sweeps.submit(config)
    details = sweep.wait_for_completion()

    trials = sweep.trials()
    assert "Completed" == details["status"]
    assert 2 == len(trials)
    assert all(t["status"] == "Canceled" and "max_duration_minutes" in t["error"]
               for t in trials)


def test_an_owner_started_with_exec_runs_the_sweep(sweeps, src):
    """With supervisor_start: exec the sweep's owner is `python -m runner.sweep.owner`,
    and the sweep runs to its end."""
    ws = sweeps.workspace
    ws.paths.config.write_text("max_concurrent_runs: 4\nsupervisor_start: exec\n")
    ws._config = None
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 2)}),
                             arguments=["--steps", "3"]))
    owner = psutil.Process(ws.store.get_run(sweep.id)["owner_pid"])
    command = owner.cmdline()
    deadline = time.monotonic() + 10
    while command[1:3] != ["-m", "runner.sweep.owner"] and time.monotonic() < deadline:
        time.sleep(0.02)  # the child may not have exec'd yet
        command = owner.cmdline()
    details = sweep.wait_for_completion()
    assert ["-m", "runner.sweep.owner"] == command[1:3]
    assert "Completed" == details["status"]
    assert ["Completed", "Completed"] == [t["status"] for t in sweep.trials()]


def test_a_bayesian_sweep_samples_from_the_history_and_completes(sweeps, src):
    """Bayesian sampling (Optuna TPE) runs its trials one after the other inside the
    space, and the sweep completes."""
    pytest.importorskip("optuna")
    sweep = sweeps.submit(hd(src, BayesianParameterSampling({"--x": uniform(0, 5)}),
                             arguments=["--steps", "1", "--pause", "0"], total=3,
                             concurrent=1))
    assert "Completed" == sweep.wait_for_completion()["status"]
    values = [t["hyperparameters"]["--x"] for t in sweep.trials()]
    assert 3 == len(values)
    assert all(0 <= v <= 5 for v in values)


def test_cancel_of_a_sweep_whose_owner_died_cancels_its_trials_directly(sweeps, src):
    """With the owner gone (the parent Failed), cancel() still ends every running trial."""
    ws = sweeps.workspace
    sweep = sweeps.submit(hd(src, GridParameterSampling({"--x": choice(1, 2, 3)}),
                             arguments=["--steps", "300"]))
    wait_for(lambda: sum(t["status"] == "Running" for t in sweep.trials()) == 2)
    row = ws.store.get_run(sweep.id)
    assert _proc.is_alive(row["owner_pid"], row["owner_start"])
    os.kill(row["owner_pid"], signal.SIGKILL)
    wait_for(lambda: not _proc.is_alive(row["owner_pid"], row["owner_start"]))
    sweep.cancel()
    for trial in sweep.trials():
        Run.get(ws, trial["run_id"]).wait_for_completion(raise_on_error=False)

    assert "Failed" == sweep.get_status()
    assert ["Canceled", "Canceled"] == [t["status"] for t in sweep.trials()]
