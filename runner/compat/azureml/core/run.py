"""azureml.core.run: ``Run``, and ``_OfflineRun`` (what ``Run.get_context()`` returns
outside a submitted run) for ``isinstance`` checks."""

from runner import Run
from runner.inrun.offline import OfflineRun as _OfflineRun  # noqa: F401


def get_run(experiment, run_id, rehydrate=True, clean_up=True):
    """The run ``run_id`` of ``experiment``."""
    return Run(experiment, run_id)
