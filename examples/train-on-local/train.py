"""Fit a Ridge model per alpha on the diabetes data, logging alpha and mse each time."""

import os

import joblib
import mylib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runner import Run  # inside a submitted run, `from azureml.core.run import Run` works too

os.makedirs("outputs", exist_ok=True)

X, y = load_diabetes(return_X_y=True)

run = Run.get_context()  # the submitted run; an offline run with plain `python train.py`

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

for alpha in mylib.get_alphas():
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    mse = mean_squared_error(y_test, model.predict(X_test))
    run.log("alpha", alpha)
    run.log("mse", mse)

    # Files under outputs/ are kept with the run.
    joblib.dump(value=model, filename=f"outputs/ridge_{alpha:.2f}.pkl")

    print(f"alpha is {alpha:.2f}, and mse is {mse:.2f}")
