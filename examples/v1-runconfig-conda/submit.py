"""A v1 driver, unchanged: RunConfiguration with conda packages, submitted and streamed.

Written the way Azure ML v1 notebooks were; it imports only from azureml.*.
Run `runner init` and `runner compat install` once, then `python submit.py`.
"""

import os

from azureml.core import Experiment, ScriptRunConfig, Workspace
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.runconfig import RunConfiguration

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")

exp = Experiment(workspace=ws, name="v1-runconfig-conda")

run_config = RunConfiguration()
run_config.environment.python.user_managed_dependencies = False
run_config.environment.python.conda_dependencies = CondaDependencies.create(
    python_version="3.6.2",
    conda_packages=["numpy"],
    pip_packages=["azureml-defaults"],
)

script_folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
src = ScriptRunConfig(source_directory=script_folder, script="train.py",
                      arguments=["--steps", 5], run_config=run_config)

run = exp.submit(src)
run.wait_for_completion(show_output=True)

print(run.get_metrics())
