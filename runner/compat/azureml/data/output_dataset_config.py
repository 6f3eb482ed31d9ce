"""azureml.data.output_dataset_config: OutputFileDatasetConfig (runner's datasets)."""

from .._lazy import mapper

__getattr__ = mapper(__name__, {"OutputFileDatasetConfig": ("runner:OutputFileDatasetConfig",)})
