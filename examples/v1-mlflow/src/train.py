"""A training loop that logs through mlflow only, as azureml-examples' v1 scripts do."""

import argparse
import json

import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()

mlflow.log_params({"epochs": args.epochs, "lr": args.lr})
mlflow.set_tag("framework", "none")
weight, target = 0.0, 2.0
for epoch in range(args.epochs):
    weight += args.lr * (target - weight) * 4
    mlflow.log_metric("loss", (target - weight) ** 2, step=epoch)

with open("weights.json", "w") as f:
    json.dump({"weight": weight}, f)
mlflow.log_artifact("weights.json", artifact_path="model")
print("final weight", round(weight, 4))
