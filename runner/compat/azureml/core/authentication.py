"""azureml.core.authentication: credentials are accepted and unused (nothing is remote)."""

from runner.api.workspace_v1 import LocalAuthentication as AzureCliAuthentication  # noqa: F401
from runner.api.workspace_v1 import LocalAuthentication as InteractiveLoginAuthentication  # noqa: F401
from runner.api.workspace_v1 import LocalAuthentication as MsiAuthentication  # noqa: F401
from runner.api.workspace_v1 import LocalAuthentication as ServicePrincipalAuthentication  # noqa: F401
