"""MLflow inside a run lands in the run's record: metrics with steps, params, tags and
artifacts, autolog included; a notebook's start_logging run takes MLflow's calls too."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import Experiment, Run, ScriptRunConfig, Workspace

# Found, not imported: importing MLflow or scikit-learn here would set variables in this process.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                                reason="the mlflow extra is not installed")

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import mlflow
mlflow.log_param("alpha", 0.5)
for i in range(3):
    mlflow.log_metric("loss", 1.0 / (i + 1), step=10 * i)
mlflow.set_tag("team", "blue")
open("model.txt", "w").write("m")
mlflow.log_artifact("model.txt", artifact_path="model")
print(mlflow.get_tracking_uri(), mlflow.active_run().info.run_id)
"""


def _submit(ws: Workspace, folder: Path, script: str) -> Run:
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(script)
    run = Experiment(ws, "mlflow").submit(ScriptRunConfig(str(folder), "train.py"))
    run.wait_for_completion(raise_on_error=False)
    return run


def test_mlflow_calls_in_a_submitted_script_land_in_the_run(ws: Workspace, tmp_path: Path):
    """log_metric (with steps), log_param, set_tag and log_artifact go to the run itself."""
    run = _submit(ws, tmp_path / "src", SCRIPT)

    log = (run.folder / "logs" / "std_log.txt").read_text()
    assert "Completed" == run.get_status(), log
    assert f"runner:{ws.root} {run.id}" in log
    assert {"loss": [1.0, 0.5, 1.0 / 3]} == run.get_metrics()
    assert {"alpha": "0.5"} == run.get_details()["parameters"]
    assert "0.5" == run.get_properties()["alpha"]
    assert {"team": "blue"} == run.get_tags()
    assert "model/model.txt" in run.get_file_names()
    chunks = ws.store.read("SELECT c.steps FROM metric_chunks c JOIN metrics m "
                           "ON m.id = c.metric_id WHERE m.name = 'loss' ORDER BY c.seq", ())
    assert [0, 10, 20] == [step for (steps,) in chunks for step in json.loads(steps)]


def test_mlflow_autolog_records_params_metrics_and_the_model(ws: Workspace, tmp_path: Path):
    """mlflow.autolog() around a scikit-learn fit leaves its params, metrics and model files."""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    run = _submit(ws, tmp_path / "src", (
        "import mlflow\nfrom sklearn.linear_model import Ridge\n"
        "mlflow.autolog()\nRidge(alpha=0.3).fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.1])\n"))

    assert "Completed" == run.get_status()
    assert "0.3" == run.get_details()["parameters"]["alpha"]
    assert "training_score" in run.get_metrics()
    assert any(n.startswith("models/") and n.endswith("/MLmodel")
               for n in run.get_file_names())


def _notebook(ws: Workspace, tmp_path: Path, code: str) -> str:
    """Run ``code`` as a notebook cell would, MLflow finding runner's store."""
    from runner.execution.shim import ensure_shim

    pkg = ensure_shim(ws.paths).pkg
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(pkg)])
    env["RUNNER_WORKSPACE"] = str(ws.root)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=100)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
    return proc.stdout


def test_start_logging_takes_mlflow_calls_in_a_notebook(ws: Workspace, tmp_path: Path):
    """After start_logging, mlflow.log_metric with the workspace's tracking URI logs into
    that interactive run."""
    out = _notebook(ws, tmp_path, (
        "import mlflow\nfrom runner import Workspace, Experiment\n"
        "ws = Workspace.from_config()\n"
        "mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())\n"
        "run = Experiment(ws, 'nb').start_logging(snapshot_directory=None)\n"
        "mlflow.log_metric('acc', 0.9)\nmlflow.log_param('depth', 3)\n"
        "run.complete()\nprint(run.id)\n"))

    run = Run.get(ws, out.split()[-1])
    assert ({"acc": 0.9}, "Completed") == (run.get_metrics(), run.get_status())
    assert {"depth": "3"} == run.get_details()["parameters"]


def test_mlflow_start_run_in_a_notebook_makes_an_interactive_run(ws: Workspace, tmp_path: Path):
    """mlflow.start_run() with no runner run makes one in the MLflow experiment, ended by
    end_run as Completed."""
    _notebook(ws, tmp_path, (
        "import mlflow\nfrom runner import Workspace\n"
        "mlflow.set_tracking_uri(Workspace.from_config().get_mlflow_tracking_uri())\n"
        "mlflow.set_experiment('from-mlflow')\n"
        "with mlflow.start_run(run_name='first'):\n    mlflow.log_metric('x', 1.0)\n"))

    (run,) = Experiment(ws, "from-mlflow").get_runs()
    assert ("Completed", {"x": 1.0}, "first") == (run.get_status(), run.get_metrics(),
                                                  run.display_name)
