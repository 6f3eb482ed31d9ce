"""azureml.data.datapath: DataPath (runner's datastores)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"DataPath": ("runner:DataPath",)})
