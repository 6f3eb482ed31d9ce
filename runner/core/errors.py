"""The errors ``runner`` raises, one tree under :class:`RunnerError`.

Each class says when it is raised, carries its context as keyword data and an
``exit_code`` that the command line uses (the only place errors become exits)::

    RunnerError                      1  anything the runner could not do
    ├── UsageError                   2  you used the API or CLI wrong (bad input)
    │   ├── ConfigError              3  config.yaml unparsable or invalid
    │   ├── NotFoundError            4  something named does not exist
    │   │   ├── WorkspaceNotFound
    │   │   ├── RunNotFound
    │   │   ├── ArtifactNotFound
    │   │   ├── EnvironmentNotFound
    │   │   ├── ModelNotFound
    │   │   ├── DatasetNotFound
    │   │   ├── DatastoreNotFound
    │   │   └── ComputeTargetNotFound
    │   ├── ArtifactError            2  artifact name invalid or already taken
    │   ├── MetricError              2  a value or shape log*() cannot store
    │   ├── SnapshotError            5  the source tree cannot be captured
    │   ├── EnvironmentSpecError     2  an Environment definition is wrong
    │   └── RunEnvironmentError      2  get_context(allow_offline=False) outside a run
    ├── EnvironmentBuildError        6  a managed environment failed to build
    ├── RunFailed                    7  a run ended Failed (wait_for_completion)
    └── StoreError                   9  the workspace store is unusable

:class:`UsageError` and its subclasses are also ``ValueError``; :class:`NotFoundError`
and its subclasses are also ``LookupError``.

"The run failed" (:class:`RunFailed`) is kept apart from "you used it wrong"
(:class:`UsageError`). Foreign errors (sqlite3, yaml, OSError) are translated
where they happen with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any


class RunnerError(Exception):
    """Base of every error the runner raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        for key, value in context.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class UsageError(RunnerError, ValueError):
    """Raised when a call or command is given input it cannot accept.

    Also a :class:`ValueError`, so generic handlers (``except ValueError``) catch it
    as they catch the standard library's bad-value errors.
    """

    exit_code = 2


class ConfigError(UsageError):
    """Raised when ``config.yaml`` cannot be parsed or holds an invalid setting."""

    exit_code = 3


class NotFoundError(UsageError, LookupError):
    """Raised when a named workspace, run, file or environment does not exist.

    Also a :class:`LookupError` (as ``KeyError`` and ``IndexError`` are).
    """

    exit_code = 4


class WorkspaceNotFound(NotFoundError):
    """Raised when no ``.runner/`` folder is found where one was expected."""


class RunNotFound(NotFoundError):
    """Raised when a run id is not in the workspace."""


class ArtifactNotFound(NotFoundError):
    """Raised when a run has no file of the requested name."""


class EnvironmentNotFound(NotFoundError):
    """Raised when an environment name or version is unknown."""


class ModelNotFound(NotFoundError):
    """Raised when a model name, version or id is not registered in the workspace."""


class DatasetNotFound(NotFoundError):
    """Raised when a dataset name or version is not registered, or a dataset's files
    are missing."""


class DatastoreNotFound(NotFoundError):
    """Raised when a datastore name is not registered in the workspace."""


class ComputeTargetNotFound(NotFoundError):
    """Raised by ``ComputeTarget(ws, name)`` for a name the workspace does not know
    (Azure ML's ``ComputeTargetException``; ``ComputeTarget.create`` then makes it)."""


class ArtifactError(UsageError):
    """Raised for an artifact name that escapes the run folder or is already taken."""


class MetricError(UsageError):
    """Raised when a ``log*`` call is given a value or shape it cannot record."""


class SnapshotError(UsageError):
    """Raised when the source directory cannot be captured (limits, unreadable root)."""

    exit_code = 5


class EnvironmentSpecError(UsageError):
    """Raised when an Environment definition is invalid or cannot be satisfied."""


class RunEnvironmentError(UsageError):
    """Raised by ``Run.get_context(allow_offline=False)`` outside a submitted run."""


class EnvironmentBuildError(RunnerError):
    """Raised when a managed environment fails to build; names the build log."""

    exit_code = 6


class RunFailed(RunnerError):
    """Raised by ``wait_for_completion`` when the run ended ``Failed``."""

    exit_code = 7


class StoreError(RunnerError):
    """Raised when the workspace store cannot be opened or written."""

    exit_code = 9


#: Exit code of ``runner submit`` / ``runner wait`` for a run that ended Canceled.
CANCELED_EXIT_CODE = 8
#: Exit code of ``runner submit`` / ``runner wait`` for a run that the time limit
#: (``max_run_duration_seconds``, ``--timeout``) ended: Canceled, but not by request.
TIMEOUT_EXIT_CODE = 10
