"""azureml.core.model: Model (runner's model registry, when this runner has it)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"Model": ("runner:Model",)})
