"""azureml.core.conda_dependencies: CondaDependencies."""

from runner.api.environment import CondaDependencies  # noqa: F401
