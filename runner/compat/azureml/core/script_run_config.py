"""azureml.core.script_run_config: ScriptRunConfig."""

from runner import ScriptRunConfig  # noqa: F401
