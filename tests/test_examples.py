"""The examples run as users run them, and leave the records they promise.

Each example is copied to a temporary folder and run there in a subprocess
with ``RUNNER_WORKSPACE`` naming a new workspace; the records are then read
back through the API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import Dataset, Experiment, Model, Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Runs a script as `python script.py` would, with `import matplotlib` failing.
WITHOUT_MATPLOTLIB = (
    "import runpy, sys; sys.modules['matplotlib'] = None; "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)


def run_example(tmp_path: Path, ws: Workspace, example: str, script: str,
                *python_args: str, timeout: float = 100) -> str:
    """Run ``example/script`` from a copy, with ``tmp_path`` as the current folder;
    return its stdout (the test fails on a non-zero exit)."""
    folder = shutil.copytree(
        EXAMPLES / example, tmp_path / example,
        ignore=shutil.ignore_patterns("outputs", "__pycache__", "*.pkl"),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_WORKSPACE"] = str(ws.root)
    proc = subprocess.run(
        [sys.executable, *python_args, str(Path(folder) / script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    return proc.stdout


def test_train_within_notebook_makes_a_completed_run_per_alpha(tmp_path, ws):
    """train-within-notebook leaves 20 Completed runs, each with alpha, mse and its model."""
    run_example(tmp_path, ws, "train-within-notebook", "train.py")

    runs = list(Experiment(ws, "train-within-notebook").get_runs())
    assert 20 == len(runs)
    for run in runs:
        metrics = run.get_metrics()
        assert "Completed" == run.get_status()
        assert {"alpha", "mse"} == set(metrics)
        assert [f"ridge_{metrics['alpha']:.2f}.pkl"] == run.get_file_names()
    assert [] == list(tmp_path.glob("*.pkl"))


def test_train_within_notebook_prints_the_run_with_the_lowest_mse(tmp_path, ws):
    """train-within-notebook names as best the run whose mse is lowest."""
    out = run_example(tmp_path, ws, "train-within-notebook", "train.py")

    runs = Experiment(ws, "train-within-notebook").get_runs()
    best = min(runs, key=lambda run: run.get_metrics()["mse"])
    assert f"Best run is: {best.id}" in out


def test_logging_api_records_every_metric_shape(tmp_path, ws):
    """logging-api leaves one Completed run with a value, lists, tables, an image,
    tags and properties."""
    run_example(tmp_path, ws, "logging-api", "logging_api.py")

    (run,) = Experiment(ws, "logging-api").get_runs()
    metrics = run.get_metrics()
    assert "Completed" == run.get_status()
    assert 2 == metrics["A single number"]
    assert [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89] == metrics["Fibonacci numbers"]
    assert 20 == len(metrics["Sigmoid"])
    assert {"angle": 20, "cos": 20} == {k: len(v) for k, v in metrics["Cosine Wave"].items()}
    assert {"angle": 20, "sine": 20} == {k: len(v) for k, v in metrics["Sine Wave"].items()}
    assert metrics["Sample image"] in run.get_file_names()
    assert {"Run type": "example", "Quick": None} == run.get_tags()
    assert "synthetic" == run.get_properties()["dataset"]


def test_logging_api_logs_a_matplotlib_plot_when_matplotlib_is_installed(tmp_path, ws):
    """logging-api logs the plot as a PNG named after the metric."""
    pytest.importorskip("matplotlib")
    run_example(tmp_path, ws, "logging-api", "logging_api.py")

    (run,) = Experiment(ws, "logging-api").get_runs()
    image = run.get_metrics()["Sample image"]
    assert image.startswith("Sample image_") and image.endswith(".png"), image
    assert PNG_MAGIC == (run.folder / image).read_bytes()[:8]


def test_logging_api_logs_a_png_file_without_matplotlib(tmp_path, ws):
    """logging-api without matplotlib logs the PNG it writes with the standard library."""
    run_example(tmp_path, ws, "logging-api", "logging_api.py", "-c", WITHOUT_MATPLOTLIB)

    (run,) = Experiment(ws, "logging-api").get_runs()
    assert "sine.png" == run.get_metrics()["Sample image"]
    assert PNG_MAGIC == (run.folder / "sine.png").read_bytes()[:8]


def test_train_on_local_submits_a_run_that_logs_and_saves_20_models(tmp_path, ws):
    """train-on-local's submit.py leaves a Completed run with 20 alphas, 20 mse values
    and 20 models under outputs/."""
    out = run_example(tmp_path, ws, "train-on-local", "submit.py")

    (run,) = Experiment(ws, "train-on-local").get_runs()
    metrics = run.get_metrics()
    models = [n for n in run.get_file_names() if n.startswith("outputs/ridge_")]
    assert "Completed" == run.get_status()
    assert 20 == len(metrics["alpha"])
    assert 20 == len(metrics["mse"])
    assert [f"outputs/ridge_{a:.2f}.pkl" for a in metrics["alpha"]] == models
    assert "alpha is 0.95, and mse is" in out
    best = min(zip(metrics["mse"], metrics["alpha"]))[1]
    listed = _runner(ws, "model", "list")
    assert "best_model  1" in listed and run.id in listed
    assert [{"path": f"ridge_{best:.2f}.pkl"}] == [
        {"path": f["path"]} for f in Model(ws, "best_model").get_files()]


def test_sweep_ridge_prints_the_best_run_and_the_policy_cancels_some_trials(tmp_path, ws):
    """sweep-ridge runs 12 trials, some Canceled by the Bandit policy, and prints the best
    run (lowest mse) with its alpha."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:  # importing it here would set env vars
        pytest.skip("scikit-learn is not installed")
    ws.paths.config.write_text("max_concurrent_runs: 3\n")
    # 12 trials, each importing scikit-learn: give a busy machine time.
    out = run_example(tmp_path, ws, "sweep-ridge", "sweep.py", timeout=400)

    (sweep,) = Experiment(ws, "sweep-ridge").get_runs()
    trials = sweep.trials()
    canceled = [t for t in trials if t["status"] == "Canceled"]
    best = min((t for t in trials if t["values"]), key=lambda t: t["best_primary_metric"])
    assert "Completed" == sweep.get_status()
    assert 12 == len(trials)
    assert canceled and all(t["error"].startswith("BanditPolicy") for t in canceled)
    assert f"Best run is: {best['run_id']} with alpha {best['hyperparameters']['--alpha']}" \
        in out


def _runner(ws: Workspace, *args: str) -> str:
    """The output of the ``runner`` command on ``ws`` (fails on a non-zero exit)."""
    proc = subprocess.run([sys.executable, "-m", "runner", "--workspace", str(ws.root), *args],
                          capture_output=True, text=True, timeout=60)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    return proc.stdout


def test_train_with_dataset_trains_on_a_registered_tabular_dataset(tmp_path, ws):
    """train-with-dataset registers the CSVs as diabetes-tabular:1, the run reads it as a
    download, its predictions become diabetes-predictions:1, and the model records the run."""
    pytest.importorskip("pandas")
    out = run_example(tmp_path, ws, "train-with-dataset", "submit.py")

    (run,) = Experiment(ws, "train-with-dataset").get_runs()
    details = run.get_details()
    model = Model(ws, "diabetes-ridge")
    assert "Completed" == details["status"]
    assert 442 == run.get_metrics()["rows"]
    assert [("diabetes-tabular", 1, "Download")] == [
        (i["dataset"]["name"], i["dataset"]["version"], i["consumptionDetails"]["mechanism"])
        for i in details["inputDatasets"]]
    assert ["/predictions.csv"] == Dataset.get_by_name(ws, "diabetes-predictions").to_path()
    assert (1, run.id) == (model.version, model.run_id)
    assert "Input files: ['part-0.csv', 'part-1.csv', 'part-2.csv']" in out
    assert "Input diabetes:" in _runner(ws, "show", run.id)


# ----------------------------------------------------------- v1 drivers, unchanged

@pytest.fixture(scope="module")
def v1_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter after the documented step, `runner compat install` (a virtualenv
    seeing this interpreter's packages)."""
    import venv

    folder = tmp_path_factory.mktemp("v1") / "venv"
    venv.create(folder, with_pip=False, system_site_packages=True)
    python = str(folder / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["PYTHONPATH"] = str(EXAMPLES.parent)
    subprocess.run([python, "-m", "runner", "compat", "install"], env=env, check=True,
                   capture_output=True, timeout=60)
    return python


def run_v1_example(tmp_path: Path, ws: Workspace, python: str, example: str) -> str:
    """Run ``example/submit.py`` unchanged with ``python``; return stdout + stderr."""
    folder = shutil.copytree(EXAMPLES / example, tmp_path / example,
                             ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "MLFLOW_"))}
    env["RUNNER_WORKSPACE"] = str(ws.root)
    env["PYTHONPATH"] = str(EXAMPLES.parent)
    proc = subprocess.run([python, str(Path(folder) / "submit.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=110)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_v1_runconfig_conda_driver_runs_unchanged(tmp_path, ws, v1_python):
    """The RunConfiguration + conda_packages driver builds its environment (numpy through
    pip, azureml-defaults left out) and its run logs from numpy."""
    out = run_v1_example(tmp_path, ws, v1_python, "v1-runconfig-conda")

    (run,) = Experiment(ws, "v1-runconfig-conda").get_runs()
    build_log = (run.folder / "logs" / "env_build.txt").read_text()
    assert "Completed" == run.get_status()
    assert 5 == len(run.get_metrics()["slope_error"])
    assert "left out: azureml-defaults" in build_log
    assert "installed with pip" in out


def test_v1_compute_docker_driver_runs_unchanged(tmp_path, ws, v1_python):
    """The cluster + Docker driver provisions nothing, runs locally without Docker after
    notices, and its curated environment and variables reach the script."""
    out = run_v1_example(tmp_path, ws, v1_python, "v1-compute-docker")

    (run,) = Experiment(ws, "v1-compute-docker").get_runs()
    metrics = run.get_metrics()
    assert "Completed" == run.get_status()
    assert (50, 15, "hello") == (metrics["limit"], len(metrics["primes"]),
                                 metrics["greeting"])
    assert "'cpu-cluster' (AmlCompute) runs on this machine" in out
    assert "runs no containers" in out
    assert run.get_details()["runDefinition"]["docker"]["enabled"] is True


def test_v1_mlflow_driver_runs_unchanged(tmp_path, ws, v1_python):
    """The mlflow driver's script logs through mlflow into the run."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("the mlflow extra is not installed")
    run_v1_example(tmp_path, ws, v1_python, "v1-mlflow")

    (run,) = Experiment(ws, "v1-mlflow").get_runs()
    assert "Completed" == run.get_status()
    assert 4 == len(run.get_metrics()["loss"])
    assert {"epochs": "4", "lr": "0.1"} == run.get_details()["parameters"]
    assert "model/weights.json" in run.get_file_names()
