"""azureml.core.compute: compute target names, run on this machine unless configured.

Everything here is imported from runner; nothing else imports this package.
"""

from runner.api.compute import AmlCompute, ComputeInstance, ComputeTarget  # noqa: F401
