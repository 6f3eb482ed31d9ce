"""azureml.core.compute_target: ComputeTargetException."""

from runner.core.errors import ComputeTargetNotFound as ComputeTargetException  # noqa: F401
