"""A v1 driver, unchanged: a compute cluster, a curated environment and Docker flags.

Written the way Azure ML v1 notebooks were; it imports only from azureml.*.
Run `runner init` and `runner compat install` once, then `python submit.py`.
"""

import os

import azureml.core
from azureml.core import Environment, Experiment, ScriptRunConfig, Workspace
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.compute_target import ComputeTargetException
from azureml.core.runconfig import DEFAULT_CPU_IMAGE, DockerConfiguration
from azureml.widgets import RunDetails

print("SDK version:", azureml.core.VERSION)
ws = Workspace.from_config()

cluster_name = "cpu-cluster"
try:
    cpu_cluster = ComputeTarget(workspace=ws, name=cluster_name)
    print("Found existing cluster, use it.")
except ComputeTargetException:
    compute_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2",
                                                           max_nodes=4)
    cpu_cluster = ComputeTarget.create(ws, cluster_name, compute_config)
cpu_cluster.wait_for_completion(show_output=True)

env = Environment.get(workspace=ws, name="AzureML-Minimal").clone("minimal-docker")
env.docker.enabled = True
env.docker.base_image = DEFAULT_CPU_IMAGE
env.environment_variables["GREETING"] = "hello"

script_folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
src = ScriptRunConfig(source_directory=script_folder, script="count.py",
                      arguments=["--limit", 50], compute_target=cpu_cluster, environment=env,
                      docker_runtime_config=DockerConfiguration(use_docker=True))

run = Experiment(workspace=ws, name="v1-compute-docker").submit(src)
RunDetails(run).show()
run.wait_for_completion(show_output=True)

print(run.get_details()["target"], run.get_metrics())
