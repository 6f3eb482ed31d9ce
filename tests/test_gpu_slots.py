"""GPU slots: the local queue hands each run its own GPU ids, and refuses what cannot fit.

The machine's GPUs are described by ``gpus:`` in ``config.yaml`` (CI has none); the runs
are real scripts under real supervisors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner import ConfigError, Experiment, Run, ScriptRunConfig, UsageError, Workspace
from runner.core.gpus import assign, check_amount

#: Prints what the run sees, and its times; sleeps so that runs overlap when allowed.
SHOW_GPUS = """\
import json, os, sys, time
start = time.time()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.4)
print("GPUS " + json.dumps({"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "nvidia": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
                            "start": start, "end": time.time()}))
"""


def configure(ws: Workspace, text: str) -> None:
    """Write ``text`` as the workspace's config.yaml."""
    ws.paths.config.write_text(textwrap.dedent(text))
    ws._config = None


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source folder with the script that prints its GPUs."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "show.py").write_text(SHOW_GPUS)
    return folder


def seen(run: Run) -> dict:
    """What the script printed about its GPUs and times."""
    text = (run.folder / "logs" / "std_log.txt").read_text()
    line = next(line for line in text.splitlines() if line.startswith("GPUS "))
    return json.loads(line[5:])


def test_six_two_gpu_runs_never_share_an_id_and_each_sees_exactly_its_own(ws, src):
    """With gpus [0,1,2,3], six 2-GPU runs hold disjoint ids whenever they overlap in time,
    and each script sees exactly the ids its record says it holds."""
    configure(ws, "gpus: [0, 1, 2, 3]\nmax_concurrent_runs: 6\n")
    exp = Experiment(ws, "gpus")
    runs = [exp.submit(ScriptRunConfig(str(src), "show.py", ["1.5"], resources={"gpu": 2}))
            for _ in range(6)]
    for run in runs:
        run.wait_for_completion()
    views = []
    for run in runs:
        held = run.get_details()["gpus"]
        view = seen(run)
        assert 2 == len(held)
        assert ",".join(held) == view["cuda"]
        assert ",".join(held) == view["nvidia"]
        assert set(held) <= {"0", "1", "2", "3"}
        views.append((set(held), view["start"], view["end"]))
    for i, (ids_a, start_a, end_a) in enumerate(views):
        for ids_b, start_b, end_b in views[i + 1:]:
            if start_a < end_b and start_b < end_a:  # ran at the same time
                assert set() == ids_a & ids_b
    overlapped = any(a[1] < b[2] and b[1] < a[2] for i, a in enumerate(views)
                     for b in views[i + 1:])
    assert overlapped, "two 2-GPU runs should have run at once on 4 GPUs"


def test_a_run_asking_for_more_gpus_than_the_machine_has_is_refused_at_submit(ws, src):
    """Asking for 5 GPUs on a 4-GPU machine is a UsageError naming both, and leaves no run."""
    configure(ws, "gpus: [0, 1, 2, 3]\n")
    exp = Experiment(ws, "gpus")
    with pytest.raises(UsageError, match="asks for 5 GPUs but this machine has 4"):
        exp.submit(ScriptRunConfig(str(src), "show.py", resources={"gpu": 5}))
    assert [] == ws.store.query_runs(include_children=True)


def test_a_machine_without_gpus_refuses_any_gpu_request(ws, src):
    """With `gpus: []`, a run asking for one GPU is refused, pointing at config.yaml."""
    configure(ws, "gpus: []\n")
    with pytest.raises(UsageError, match=r"config\.yaml"):
        Experiment(ws, "gpus").submit(ScriptRunConfig(str(src), "show.py",
                                                      resources={"gpu": 1}))


def test_runs_without_a_gpu_request_are_left_alone(ws, src, monkeypatch):
    """A run that asks for no GPU gets no GPU ids and its environment is not changed."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    configure(ws, "gpus: [0, 1]\n")
    run = Experiment(ws, "gpus").submit(ScriptRunConfig(str(src), "show.py", ["0"]))
    run.wait_for_completion()
    assert "7" == seen(run)["cuda"]
    assert "gpus" not in run.get_details()


def test_fractional_requests_share_one_gpu(ws, src):
    """Two runs asking for half a GPU each are given the same GPU and run at once."""
    configure(ws, "gpus: [0, 1]\nmax_concurrent_runs: 4\n")
    exp = Experiment(ws, "gpus")
    runs = [exp.submit(ScriptRunConfig(str(src), "show.py", ["1.0"], resources={"gpu": 0.5}))
            for _ in range(2)]
    for run in runs:
        run.wait_for_completion()
    a, b = (seen(run) for run in runs)
    assert a["cuda"] == b["cuda"]
    assert a["start"] < b["end"] and b["start"] < a["end"]


def test_a_waiting_run_shows_why_in_runner_runs(ws, src):
    """While two 2-GPU runs hold both GPUs, `runner runs` shows the next one as waiting
    for 2 GPUs and lists the GPUs each run holds."""
    configure(ws, "gpus: [0, 1]\nmax_concurrent_runs: 4\n")
    exp = Experiment(ws, "gpus")
    first = exp.submit(ScriptRunConfig(str(src), "show.py", ["3"], resources={"gpu": 2}))
    deadline = time.monotonic() + 20
    while first.get_status() != "Running" and time.monotonic() < deadline:
        time.sleep(0.05)
    second = exp.submit(ScriptRunConfig(str(src), "show.py", ["0"], resources={"gpu": 2}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_WORKSPACE"] = str(ws.root)
    out = subprocess.run([sys.executable, "-m", "runner", "runs"], env=env,
                         capture_output=True, text=True, timeout=60)
    first.cancel()
    first.wait_for_completion(raise_on_error=False)
    second.wait_for_completion()
    assert 0 == out.returncode, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert "Queued: waiting for 2 GPUs" in lines[second.id]
    assert "0,1" in lines[first.id]
    assert "GPUS" in out.stdout.splitlines()[0]


def test_runner_submit_gpus_gives_the_run_its_gpus(ws, src):
    """`runner submit --gpus 1` runs the script with one GPU of the listed ones."""
    configure(ws, "gpus: [3]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_WORKSPACE"] = str(ws.root)
    proc = subprocess.run([sys.executable, "-m", "runner", "submit", "--gpus", "1",
                           "--source-dir", str(src), "show.py", "0"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    assert '"cuda": "3"' in proc.stdout


def test_the_gpus_setting_is_validated():
    """`gpus:` must list distinct ids; a bad item names the setting."""
    from runner.api.workconfig import config_from_dict

    assert ["0", "1", "GPU-ab"] == config_from_dict({"gpus": [0, 1, "GPU-ab"]}).gpus
    with pytest.raises(ConfigError, match="twice"):
        config_from_dict({"gpus": [0, 0]})
    with pytest.raises(ConfigError, match="'gpus'"):
        config_from_dict({"gpus": [-1]})
    with pytest.raises(ConfigError, match="'gpus'"):
        config_from_dict({"gpus": "0,1"})


def test_assign_gives_the_lowest_free_ids_and_none_when_they_are_taken():
    """Whole requests take the lowest free ids; a request that does not fit gets None."""
    machine = ["0", "1", "2", "3"]
    assert ["0", "1"] == assign(machine, [], 2)
    assert ["2", "3"] == assign(machine, [(["0", "1"], 2)], 2)
    assert assign(machine, [(["0", "1"], 2), (["2"], 1)], 2) is None
    assert [] == assign(machine, [(["0", "1", "2", "3"], 4)], 0)


def test_assign_packs_fractions_and_never_shares_an_exclusive_gpu():
    """Fractions fill a shared GPU first, never go onto a whole-GPU holder, and a whole
    request never takes a partly used GPU."""
    machine = ["0", "1"]
    assert ["1"] == assign(machine, [(["0"], 1)], 0.5)
    assert ["0"] == assign(machine, [(["0"], 0.5)], 0.25)
    assert ["1"] == assign(machine, [(["0"], 0.75)], 0.5)
    assert ["1"] == assign(machine, [(["0"], 0.25)], 1)
    assert assign(machine, [(["0"], 1), (["1"], 0.75)], 0.5) is None


def test_a_gpu_amount_is_whole_or_a_fraction_below_one():
    """1.5 GPUs, negative amounts and strings are refused; 0.5 and 2 are fine."""
    assert 0.5 == check_amount(0.5)
    assert 2.0 == check_amount(2)
    for bad in (1.5, -1, "2", True):
        with pytest.raises(UsageError):
            check_amount(bad)


def test_the_studio_shows_the_gpus_a_run_held(ws, src):
    """/api/runs/<id> gives the GPU ids a run was given, and null for a run without."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from runner.studio.app import create_app

    configure(ws, "gpus: [0, 1]\n")
    exp = Experiment(ws, "gpus")
    with_gpus = exp.submit(ScriptRunConfig(str(src), "show.py", ["0"], resources={"gpu": 2}))
    without = exp.submit(ScriptRunConfig(str(src), "show.py", ["0"]))
    with_gpus.wait_for_completion()
    without.wait_for_completion()
    with TestClient(create_app(ws, csrf="test-csrf"), base_url="http://127.0.0.1:8765") as c:
        assert ["0", "1"] == c.get(f"/api/runs/{with_gpus.id}").json()["gpus"]
        assert c.get(f"/api/runs/{without.id}").json()["gpus"] is None


def test_system_metrics_sample_the_held_gpus_through_nvml(ws, src, monkeypatch):
    """Where NVML answers, the supervisor samples memory and utilisation of the GPUs the
    run holds (NVML here is a stand-in module for the NVIDIA driver CI does not have)."""
    import types

    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda index: index
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=1000 + h)
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # a supervisor forked from here
    # An exec'd supervisor (this process has threads under xdist) imports the same
    # stand-in from a file.
    fake = src.parent / "fake-nvml"
    fake.mkdir()
    (fake / "pynvml.py").write_text(textwrap.dedent("""
        import types
        nvmlInit = lambda: None
        nvmlDeviceGetCount = lambda: 2
        nvmlDeviceGetHandleByIndex = lambda index: index
        nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=1000 + h)
        nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)
    """))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(fake), os.environ.get("PYTHONPATH")) if p))
    configure(ws, "gpus: [0, 1]\nsample_interval_seconds: 0.1\n")
    run = Experiment(ws, "gpus").submit(
        ScriptRunConfig(str(src), "show.py", ["0.8"], resources={"gpu": 1}))
    run.wait_for_completion()
    system = run.get_system_metrics()
    assert ["0"] == run.get_details()["gpus"]
    assert 1000 == system["gpu0_memory_used_bytes"][-1]
    assert 40 == system["gpu0_utilization_percent"][-1]
    assert "gpu1_memory_used_bytes" not in system
