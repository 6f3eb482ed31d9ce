"""azureml.train.hyperdrive: HyperDrive's names, mapped lazily onto runner's sweeps.

Each name is looked up in ``runner`` (its exports) when first used; a name this
runner does not have is an ImportError saying so.

Everything here is imported from runner; nothing else imports this package.
"""

from ..._lazy import mapper

_CLASSES = ("HyperDriveConfig", "HyperDriveRun", "RandomParameterSampling",
            "GridParameterSampling", "BayesianParameterSampling", "BanditPolicy",
            "MedianStoppingPolicy", "TruncationSelectionPolicy", "NoTerminationPolicy",
            "PrimaryMetricGoal")
_EXPRESSIONS = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
                "normal", "qnormal", "lognormal", "qlognormal")
_PLACES = {"PrimaryMetricGoal": "runner.sweep.policy", "BanditPolicy": "runner.sweep.policy",
           "MedianStoppingPolicy": "runner.sweep.policy",
           "TruncationSelectionPolicy": "runner.sweep.policy",
           "NoTerminationPolicy": "runner.sweep.policy",
           "RandomParameterSampling": "runner.sweep.sampling",
           "GridParameterSampling": "runner.sweep.sampling",
           "BayesianParameterSampling": "runner.sweep.sampling"}

NAMES = {name: ("runner:" + name,
                *((f"{_PLACES[name]}:{name}",) if name in _PLACES else ()),
                *((f"runner.sweep.space:{name}",) if name in _EXPRESSIONS else ()))
         for name in (*_CLASSES, *_EXPRESSIONS)}

__getattr__ = mapper(__name__, NAMES)
