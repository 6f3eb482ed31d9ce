"""Fit a line with numpy's least squares and log the error as it shrinks."""

import argparse

import numpy as np
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()

run = Run.get_context()
rng = np.random.default_rng(0)
for step in range(1, args.steps + 1):
    x = rng.uniform(0, 10, size=20 * step)
    y = 3.0 * x + 1.0 + rng.normal(0, 1, size=x.size)
    (slope, intercept), *_ = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)
    run.log("slope_error", float(abs(slope - 3.0)))
run.log("samples", int(x.size))
print("numpy", np.__version__, "slope", round(float(slope), 3))
