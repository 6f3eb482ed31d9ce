"""azureml.core.datastore: Datastore (runner's data layer, when this runner has it)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"Datastore": ("runner:Datastore",)})
