"""Fit a Ridge model on the run's tabular input and write predictions to its output folder."""

import argparse
import os

import joblib
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runner import Run  # inside a submitted run, `from azureml.core.run import Run` works too

parser = argparse.ArgumentParser()
parser.add_argument("--data", help="folder of the downloaded CSVs")
parser.add_argument("--predictions", help="folder to write predictions into")
parser.add_argument("--alpha", type=float, default=0.1)
args = parser.parse_args()

run = Run.get_context()
print("Input files:", sorted(os.listdir(args.data)))

# A tabular input is the dataset itself: read it as one table.
frame = run.input_datasets["diabetes"].to_pandas_dataframe()
X, y = frame.drop(columns=["y"]).to_numpy(), frame["y"].to_numpy()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

model = Ridge(alpha=args.alpha).fit(X_train, y_train)
predicted = model.predict(X_test)
mse = mean_squared_error(y_test, predicted)
run.log("alpha", args.alpha)
run.log("rows", len(frame))
run.log("mse", mse)
print(f"{len(frame)} rows, alpha {args.alpha}, mse {mse:.2f}")

os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.pkl")
with open(os.path.join(args.predictions, "predictions.csv"), "w") as out:
    out.write("actual,predicted\n")
    out.writelines(f"{a},{p:.3f}\n" for a, p in zip(y_test, predicted))
