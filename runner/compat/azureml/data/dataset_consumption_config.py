"""azureml.data.dataset_consumption_config: DatasetConsumptionConfig (runner's datasets)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"DatasetConsumptionConfig": ("runner:DatasetConsumptionConfig",)})
