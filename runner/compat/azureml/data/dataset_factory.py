"""azureml.data.dataset_factory: DataType (runner's datasets)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"DataType": ("runner:DataType",)})
