"""azureml.core.experiment: Experiment."""

from runner import Experiment  # noqa: F401
