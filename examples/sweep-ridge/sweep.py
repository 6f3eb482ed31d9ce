"""Sweep train.py's alpha with HyperDrive: random sampling, a Bandit policy, 12 trials.

Three trials run at a time (as the workspace's max_concurrent_runs allows); trials whose
mse falls more than 10% behind the best at the same step are canceled by the policy.
"""

import math
import sys
from pathlib import Path

from runner import (
    BanditPolicy,
    Environment,
    Experiment,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    ScriptRunConfig,
    Workspace,
    WorkspaceNotFound,
    loguniform,
)

HERE = Path(__file__).resolve().parent

try:
    ws = Workspace.from_config()
except WorkspaceNotFound:
    ws = Workspace.create(".")
    print(f"No workspace found: created one in {ws.root}")
exp = Experiment(ws, "sweep-ridge")

# Run with this very interpreter, as it is: scikit-learn and joblib must be installed.
env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
env.python.interpreter_path = sys.executable
src = ScriptRunConfig(source_directory=str(HERE), script="train.py", environment=env)

sampling = RandomParameterSampling(
    {"--alpha": loguniform(math.log(1e-3), math.log(10))},  # alpha from 0.001 to 10
    seed=7,  # the same seed gives the same trials
)
policy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2)
config = HyperDriveConfig(
    run_config=src,
    hyperparameter_sampling=sampling,
    policy=policy,
    primary_metric_name="mse",
    primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
    max_total_runs=12,
    max_concurrent_runs=3,
)

sweep = exp.submit(config)  # returns at once: the sweep's owner runs the trials
sweep.wait_for_completion(show_output=True)  # one line per trial as it ends

best = sweep.get_best_run_by_primary_metric()
alpha = best.get_details()["parameters"]["alpha"]
canceled = [r for r in sweep.get_children() if r.get_status() == "Canceled"]
print(f"Best run is: {best.id} with alpha {alpha} (mse {min(best.get_metrics()['mse']):.1f})")
print(f"{len(canceled)} of 12 trials were canceled by the policy")
