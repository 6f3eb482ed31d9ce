"""azureml.core.script_run: ScriptRun (runner's Run)."""

from runner import Run as ScriptRun  # noqa: F401
