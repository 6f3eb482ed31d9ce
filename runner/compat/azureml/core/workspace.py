"""azureml.core.workspace: Workspace."""

from runner import Workspace  # noqa: F401
