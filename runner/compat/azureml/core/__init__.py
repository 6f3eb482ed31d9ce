"""azureml.core: Workspace, Experiment, Run, ScriptRunConfig, Environment and friends,
as runner's classes.

Everything here is imported from runner; nothing else imports this package.
"""

from runner import (  # noqa: F401
    ComputeTarget,
    Environment,
    Experiment,
    Run,
    RunConfiguration,
    ScriptRunConfig,
    Workspace,
)
from runner import Run as ScriptRun  # noqa: F401
from runner import __version__ as _runner_version
from runner.api.environment import CondaDependencies  # noqa: F401

from .._lazy import mapper

#: The azureml-core release whose surface this package follows (``runner`` version after +).
VERSION = f"1.61.0+runner.{_runner_version}"
__version__ = VERSION

__getattr__ = mapper(__name__, {
    "Model": ("runner:Model",),
    "Dataset": ("runner:Dataset",),
    "Datastore": ("runner:Datastore",),
    "InferenceConfig": ("runner:InferenceConfig",),
})
