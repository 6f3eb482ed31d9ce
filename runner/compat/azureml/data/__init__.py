"""azureml.data: OutputFileDatasetConfig and dataset types (runner's data layer).

Everything here is imported from runner; nothing else imports this package.
"""

from .._lazy import mapper

__getattr__ = mapper(__name__, {
    "OutputFileDatasetConfig": ("runner:OutputFileDatasetConfig",),
    "FileDataset": ("runner:FileDataset",),
    "TabularDataset": ("runner:TabularDataset",),
    "DataType": ("runner:DataType",),
})
