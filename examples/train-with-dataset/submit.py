"""Register a folder of CSVs as a tabular dataset, train on it in a submitted run, keep the
run's predictions as an output dataset and register the model."""

import sys
from pathlib import Path

from sklearn.datasets import load_diabetes

from runner import (
    Dataset,
    Environment,
    Experiment,
    OutputFileDatasetConfig,
    ScriptRunConfig,
    Workspace,
    WorkspaceNotFound,
)

HERE = Path(__file__).resolve().parent

try:
    ws = Workspace.from_config()
except WorkspaceNotFound:
    ws = Workspace.create(".")
    print(f"No workspace found: created one in {ws.root}")

# A folder of CSVs: the diabetes data in three parts, with a header line each.
csv_dir = Path("diabetes-csv")
csv_dir.mkdir(exist_ok=True)
X, y = load_diabetes(return_X_y=True)
columns = [f"x{i}" for i in range(X.shape[1])] + ["y"]
for part in range(3):
    rows = range(part, len(y), 3)
    lines = [",".join(columns)] + [",".join(f"{v:.6f}" for v in [*X[i], y[i]]) for i in rows]
    (csv_dir / f"part-{part}.csv").write_text("\n".join(lines) + "\n")

# Upload it to the default datastore and register it as a tabular dataset (version 1,
# frozen: later changes to the folder need create_new_version=True and make version 2).
datastore = ws.get_default_datastore()
datastore.upload(src_dir=str(csv_dir), target_path="diabetes", overwrite=True)
diabetes = Dataset.Tabular.from_delimited_files(path=(datastore, "diabetes/*.csv"))
diabetes = diabetes.register(ws, "diabetes-tabular", create_new_version=True)
print(f"Dataset {diabetes.name} version {diabetes.version}: {diabetes.to_path()}")

# The script gets the dataset as a downloaded folder, and a folder for its predictions
# that is kept on the datastore and registered as a dataset when the run completes.
predictions = OutputFileDatasetConfig(
    name="predictions", destination=(datastore, "predictions/{run-id}"),
).register_on_complete("diabetes-predictions")

env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
env.python.interpreter_path = sys.executable

src = ScriptRunConfig(
    source_directory=str(HERE), script="train.py",
    arguments=["--data", diabetes.as_named_input("diabetes").as_download(),
               "--predictions", predictions, "--alpha", 0.1],
)
src.run_config.environment = env

run = Experiment(ws, "train-with-dataset").submit(src)
run.wait_for_completion(show_output=True)

model = run.register_model(model_name="diabetes-ridge", model_path="outputs/model.pkl",
                           tags={"alpha": 0.1}, model_framework="ScikitLearn")
print(f"Registered model {model.name} version {model.version} from run {model.run_id}")
print("Inputs:", [i["dataset"]["name"] for i in run.get_details()["inputDatasets"]])
print("Predictions:", Dataset.get_by_name(ws, "diabetes-predictions").to_path())
