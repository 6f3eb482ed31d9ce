"""Submit train.py as a run on this machine, stream its output, then show its record."""

import sys
from pathlib import Path

from runner import Environment, Experiment, ScriptRunConfig, Workspace, WorkspaceNotFound

HERE = Path(__file__).resolve().parent

try:
    ws = Workspace.from_config()
except WorkspaceNotFound:
    ws = Workspace.create(".")
    print(f"No workspace found: created one in {ws.root}")
exp = Experiment(ws, "train-on-local")

# Run with this very interpreter, as it is: scikit-learn and joblib must be installed.
env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
env.python.interpreter_path = sys.executable

src = ScriptRunConfig(source_directory=str(HERE), script="train.py")
src.run_config.environment = env

run = exp.submit(src)  # returns at once; the run goes on by itself
run.wait_for_completion(show_output=True)

metrics = run.get_metrics()
print("Metrics:", metrics)
print("Files:", run.get_file_names())

# Register the model with the lowest mse; it shows in `runner model list`.
best_alpha = min(zip(metrics["mse"], metrics["alpha"]))[1]
model = run.register_model(model_name="best_model",
                           model_path=f"outputs/ridge_{best_alpha:.2f}.pkl")
print(f"Registered model {model.name} version {model.version} (alpha {best_alpha:.2f})")
