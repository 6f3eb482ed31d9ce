"""azureml.widgets: RunDetails, the notebook view of a run.

Everything here is imported from runner; nothing else imports this package.
"""

from runner.widgets import RunDetails  # noqa: F401
