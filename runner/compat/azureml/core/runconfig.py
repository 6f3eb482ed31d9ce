"""azureml.core.runconfig: RunConfiguration, DockerConfiguration and the distributed
job configurations."""

from runner import RunConfiguration  # noqa: F401
from runner.api.environment import CondaDependencies  # noqa: F401
from runner.api.runconfig_v1 import (  # noqa: F401
    DockerConfiguration,
    MpiConfiguration,
    PyTorchConfiguration,
    TensorflowConfiguration,
)

#: v1's default images: recorded when set, never pulled (runner runs no containers).
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04"
