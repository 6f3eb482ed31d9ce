"""azureml.exceptions: v1's exception names, as runner's error classes.

``except UserErrorException`` catches runner's UsageError (bad input) and
``except ActivityFailedException`` a failed run's ``wait_for_completion``.

Everything here is imported from runner; nothing else imports this package.
"""

from runner.core.errors import ComputeTargetNotFound as ComputeTargetException  # noqa: F401
from runner.core.errors import RunEnvironmentError as RunEnvironmentException  # noqa: F401
from runner.core.errors import RunFailed as ActivityFailedException  # noqa: F401
from runner.core.errors import RunnerError as AzureMLException  # noqa: F401
from runner.core.errors import RunnerError as ExperimentExecutionException  # noqa: F401
from runner.core.errors import SnapshotError as SnapshotException  # noqa: F401
from runner.core.errors import UsageError as ProjectSystemException  # noqa: F401
from runner.core.errors import UsageError as UserErrorException  # noqa: F401
from runner.core.errors import WorkspaceNotFound as WorkspaceException  # noqa: F401
