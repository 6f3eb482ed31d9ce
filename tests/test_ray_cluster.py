"""Runs on a real Ray cluster (skipped unless RUNNER_TEST_RAY_ADDRESS names a head's
dashboard; `bash .ci/ray.sh run -- pytest ...` starts one on loopback).

Few and coarse, since every Ray job costs seconds: the seed sweep gives the same record as
locally; a canceled job's process tree is gone; a job that raises ends Failed with its
outputs kept.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from runner import Environment, Experiment, RayCluster, ScriptRunConfig, Workspace

ADDRESS = os.environ.get("RUNNER_TEST_RAY_ADDRESS")
pytestmark = pytest.mark.skipif(not ADDRESS, reason="no Ray head: set RUNNER_TEST_RAY_ADDRESS "
                                                    "(bash .ci/ray.sh run -- pytest ...)")
SWEEP = Path(__file__).resolve().parent.parent / "examples" / "train-on-local"


@pytest.fixture
def tracked(ws: Workspace):
    """The workspace's tracking server on loopback, and a RayCluster that logs to it."""
    pytest.importorskip("uvicorn")
    from runner.server import ServerThread

    with ServerThread(ws) as srv:
        yield RayCluster(ADDRESS, tracking_uri=srv.url)


def _cluster_python() -> Environment:
    env = Environment("cluster-python")
    env.python.user_managed_dependencies = True  # the cluster's python as it is
    return env


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].startswith("Z")
    except FileNotFoundError:
        return True


def test_the_seed_sweep_on_ray_records_what_it_records_locally(
        ws: Workspace, tracked: RayCluster):
    """Metrics, model files and the streamed log of a Ray run match the same sweep run here."""
    exp = Experiment(ws, "sweep")
    here = Environment("here")
    here.python.user_managed_dependencies = True
    here.python.interpreter_path = sys.executable
    local = exp.submit(ScriptRunConfig(str(SWEEP), "train.py", environment=here))
    remote = exp.submit(ScriptRunConfig(str(SWEEP), "train.py", environment=_cluster_python(),
                                        compute_target=tracked))

    local.wait_for_completion()
    details = remote.wait_for_completion()

    assert "Completed" == details["status"]
    assert 0 == details["exitCode"]
    local_metrics, remote_metrics = local.get_metrics(), remote.get_metrics()
    assert sorted(local_metrics) == sorted(remote_metrics)
    for name, values in local_metrics.items():
        assert values == pytest.approx(remote_metrics[name])
    local_files = [n for n in local.get_file_names() if n.startswith("outputs/")]
    remote_files = [n for n in remote.get_file_names() if n.startswith("outputs/")]
    assert 20 == len(remote_files)
    assert local_files == remote_files
    assert {"runner.target": "ray", "ray.submission_id": remote.id} == {
        k: v for k, v in remote.get_properties().items()
        if k in ("runner.target", "ray.submission_id")}
    log = (remote.folder / "logs" / "std_log.txt").read_text()
    assert "alpha is 0.95, and mse is" in log
    assert "SUCCEEDED" == details["system"]["ray"]["status"]


LONG = """
import os, subprocess, time
from runner import Run
run = Run.get_context()
child = subprocess.Popen(["sleep", "300"])
os.makedirs("outputs", exist_ok=True)
with open("outputs/checkpoint.txt", "w") as f:
    f.write("step 0")
print(f"PIDS {os.getpid()} {os.getppid()} {child.pid}", flush=True)
i = 0
while True:
    run.log("tick", i)
    i += 1
    time.sleep(0.1)
"""


def test_cancel_stops_the_job_and_its_whole_process_tree(
        ws: Workspace, tracked: RayCluster, tmp_path: Path):
    """run.cancel() stops the Ray job: the wrapper, the script and its child are gone and the
    run ends Canceled with what it logged and its outputs/ kept (uploaded on SIGTERM)."""
    (tmp_path / "long.py").write_text(LONG)
    run = Experiment(ws, "cancel").submit(ScriptRunConfig(
        str(tmp_path), "long.py", environment=_cluster_python(), compute_target=tracked))
    log = run.folder / "logs" / "std_log.txt"
    deadline = time.monotonic() + 90
    pids: list[int] = []
    while time.monotonic() < deadline and not pids:
        found = re.search(r"PIDS (\d+) (\d+) (\d+)", log.read_text() if log.exists() else "")
        pids = [int(p) for p in found.groups()] if found else []
        time.sleep(0.2)
    assert pids, f"the job never started: {run.get_details()}"
    time.sleep(1.0)  # a few ticks reach the tracking server

    run.cancel()
    details = run.wait_for_completion(raise_on_error=False)

    assert "Canceled" == details["status"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(_pid_gone(p) for p in pids):
        time.sleep(0.2)
    assert [] == [p for p in pids if not _pid_gone(p)]
    assert run.get_metrics()["tick"][:3] == [0, 1, 2]
    assert "step 0" == (run.folder / "outputs" / "checkpoint.txt").read_text()


FAILING = """
import os
from runner import Run
run = Run.get_context()
os.makedirs("outputs", exist_ok=True)
with open("outputs/partial.txt", "w") as f:
    f.write("kept")
run.log("progress", 0.5)
raise ValueError("boom at step 3")
"""


def test_a_job_that_raises_ends_failed_with_its_outputs_kept(
        ws: Workspace, tracked: RayCluster, tmp_path: Path):
    """An uncaught exception makes the run Failed with the exception as its error, exit code
    1, the traceback in the log, and outputs/ and metrics kept."""
    (tmp_path / "fail.py").write_text(FAILING)
    run = Experiment(ws, "fail").submit(ScriptRunConfig(
        str(tmp_path), "fail.py", environment=_cluster_python(), compute_target=tracked))

    details = run.wait_for_completion(raise_on_error=False)

    assert "Failed" == details["status"]
    assert "ValueError: boom at step 3" in details["error"]["error"]["message"]
    assert 1 == details["exitCode"]
    assert "outputs/partial.txt" in run.get_file_names()
    assert "kept" == (run.folder / "outputs" / "partial.txt").read_text()
    assert {"progress": 0.5} == run.get_metrics()
    assert "Traceback" in (run.folder / "logs" / "std_log.txt").read_text()
