"""Fit a Ridge model on growing shares of the diabetes data, logging the test mse each time.

One trial of the sweep in sweep.py: the sweep appends ``--alpha VALUE`` to its arguments.
Each step trains on a larger share of the training data, so ``mse`` is a learning curve
the early-termination policy can judge while the trial runs.
"""

import argparse
import os
import time

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runner import Run  # inside a submitted run, `from azureml.core.run import Run` works too

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.5, help="regularization strength")
parser.add_argument("--steps", type=int, default=8, help="how many shares of the data")
parser.add_argument("--pause", type=float, default=0.1, help="seconds between steps")
args = parser.parse_args()

os.makedirs("outputs", exist_ok=True)
run = Run.get_context()
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

run.log("alpha", args.alpha)
for step in range(1, args.steps + 1):
    n = len(X_train) * step // args.steps
    model = Ridge(alpha=args.alpha).fit(X_train[:n], y_train[:n])
    mse = mean_squared_error(y_test, model.predict(X_test))
    run.log("mse", mse)
    run.flush()  # the sweep's policy reads it now, not at the next background write
    print(f"step {step}: {n} samples, mse {mse:.1f}")
    time.sleep(args.pause)

joblib.dump(value=model, filename="outputs/model.pkl")
