"""azureml.train.hyperdrive.parameter_expressions: choice, uniform, ... (runner's sweeps)."""

from ..._lazy import mapper
from . import NAMES as _NAMES

__getattr__ = mapper(__name__, {n: c for n, c in _NAMES.items() if n[0].islower()})
