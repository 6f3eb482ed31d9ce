"""Train a Ridge model per alpha, one interactive run each, then pick the best run."""

import os
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runner import Experiment, Workspace, WorkspaceNotFound

HERE = Path(__file__).resolve().parent

# --- Connect to the workspace and the experiment
try:
    ws = Workspace.from_config()
except WorkspaceNotFound:
    ws = Workspace.create(".")
    print(f"No workspace found: created one in {ws.root}")
exp = Experiment(ws, "train-within-notebook")

# --- Load the data
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

# --- One run per alpha
for alpha in np.arange(0.0, 1.0, 0.05):
    # The run records this folder as its source; the model is uploaded by name,
    # so there is no ./outputs folder to collect.
    run = exp.start_logging(snapshot_directory=HERE, outputs=False)

    model = Ridge(alpha=alpha).fit(X_train, y_train)
    mse = mean_squared_error(y_test, model.predict(X_test))
    run.log("alpha", alpha)
    run.log("mse", mse)

    model_file_name = f"ridge_{alpha:.2f}.pkl"
    joblib.dump(value=model, filename=model_file_name)
    run.upload_file(name=model_file_name, path_or_stream=model_file_name)
    os.remove(model_file_name)

    run.complete()
    print(f"alpha {alpha:.2f}: mse {mse:.2f} (run {run.id})")

# --- Find the best run
runs = {}
run_metrics = {}
for r in exp.get_runs():
    metrics = r.get_metrics()
    if "mse" in metrics:
        runs[r.id] = r
        run_metrics[r.id] = metrics

best_run_id = min(run_metrics, key=lambda k: run_metrics[k]["mse"])
best_run = runs[best_run_id]
print("Best run is:", best_run_id)
print("Metrics:", run_metrics[best_run_id])
print("Files:", best_run.get_file_names())
