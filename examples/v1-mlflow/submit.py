"""A v1 driver, unchanged: the training script logs with mlflow; the run keeps it all.

Written the way Azure ML v1 notebooks were; it imports only from azureml.*.
Run `runner init` and `runner compat install` once (with runner's mlflow extra
installed), then `python submit.py`.
"""

import os

from azureml.core import Environment, Experiment, ScriptRunConfig, Workspace

ws = Workspace.from_config()
print("MLflow tracking URI:", ws.get_mlflow_tracking_uri())

env = Environment("mlflow-env")
env.python.user_managed_dependencies = True  # this machine's python, with mlflow installed

script_folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
src = ScriptRunConfig(source_directory=script_folder, script="train.py",
                      arguments=["--epochs", 4], environment=env)

exp = Experiment(workspace=ws, name="v1-mlflow")
run = exp.submit(src)
run.wait_for_completion(show_output=True)

for listed in exp.get_runs(type="azureml.scriptrun"):
    print(listed.id, listed.get_status())
print("metrics:", run.get_metrics())
print("parameters:", run.get_details()["parameters"])
print("files:", run.get_file_names())
