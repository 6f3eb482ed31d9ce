"""Costs of the v1 surface: MLflow's calls against runner's own, and distributed launches.

Run by hand: ``python tests/benchmarks/bench_v1.py [--points N] [--ranks N]``; prints JSON:

- ``mlflow_log_metric_us`` / ``run_log_us``: per-call cost of ``mlflow.log_metric``
  (through runner's store) and of ``run.log``, measured inside one submitted run;
- ``one_process_s`` / ``distributed_s``: submit-to-end wall time of a one-line script
  as one process and as a PyTorchConfiguration of ``--ranks`` processes;
- ``import_azureml_core_s``: a fresh interpreter's ``import azureml.core`` (compat).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOGGING = """
import sys, time
import mlflow
from runner import Run
n = int(sys.argv[1])
run = Run.get_context()
mlflow.log_metric("warm", 0.0)
started = time.perf_counter()
for i in range(n):
    mlflow.log_metric("m", float(i), step=i)
mlflow_s = time.perf_counter() - started
started = time.perf_counter()
for i in range(n):
    run.log("r", float(i))
run_s = time.perf_counter() - started
run.log("mlflow_us", mlflow_s / n * 1e6)
run.log("run_us", run_s / n * 1e6)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--ranks", type=int, default=4)
    args = parser.parse_args()

    from runner import Experiment, PyTorchConfiguration, ScriptRunConfig, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-v1-"))
    try:
        src = root / "src"
        src.mkdir()
        (src / "log.py").write_text(LOGGING)
        (src / "hello.py").write_text("print('hello')\n")
        ws = Workspace.create(root / "ws")
        exp = Experiment(ws, "bench")
        out: dict[str, float] = {}

        run = exp.submit(ScriptRunConfig(str(src), "log.py", arguments=[args.points]))
        run.wait_for_completion()
        metrics = run.get_metrics()
        out["mlflow_log_metric_us"] = round(metrics["mlflow_us"], 1)
        out["run_log_us"] = round(metrics["run_us"], 2)

        for key, config in (("one_process_s", None),
                            ("distributed_s", PyTorchConfiguration(process_count=args.ranks))):
            started = time.perf_counter()
            exp.submit(ScriptRunConfig(str(src), "hello.py", distributed_job_config=config)
                       ).wait_for_completion()
            out[key] = round(time.perf_counter() - started, 3)

        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'runner' / 'compat'}"}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import azureml.core"], env=env, check=True)
        out["import_azureml_core_s"] = round(time.perf_counter() - started, 3)
        out["ranks"] = args.ranks
        out["points"] = args.points
        print(json.dumps(out))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
