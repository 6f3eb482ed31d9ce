"""azureml.core.environment: Environment and its sections."""

from runner import Environment  # noqa: F401
from runner.api.environment import (  # noqa: F401
    CondaDependencies,
    DockerSection,
    PythonSection,
)
