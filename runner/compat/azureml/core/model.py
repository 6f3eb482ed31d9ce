"""azureml.core.model: Model and InferenceConfig (runner's model registry)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"Model": ("runner:Model",),
                                "InferenceConfig": ("runner:InferenceConfig",)})
