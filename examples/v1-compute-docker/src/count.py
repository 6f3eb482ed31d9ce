"""Count primes below a limit; standard library only, so it runs in AzureML-Minimal."""

import argparse
import os

from azureml.core.run import Run, _OfflineRun

parser = argparse.ArgumentParser()
parser.add_argument("--limit", type=int, default=100)
args = parser.parse_args()

run = Run.get_context()
if isinstance(run, _OfflineRun):
    print("running offline: nothing is recorded")

primes = [n for n in range(2, args.limit) if all(n % d for d in range(2, int(n**0.5) + 1))]
run.log("limit", args.limit)
run.log_list("primes", primes)
run.log("greeting", os.environ.get("GREETING", "none"))
print(f"{len(primes)} primes below {args.limit}")
