"""Benchmark: ``runner runs`` over a workspace of 10,000 completed runs.

Run by hand (pytest does not collect it)::

    python tests/benchmarks/bench_cli_runs.py [--runs 10000] [--repeat 5]

Builds the workspace in a temporary folder with direct store calls (a fixture,
not an example), then times the ``runner`` console script in a subprocess, as a
user starts it, and prints one JSON object of seconds. Target: 0.5 s or less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 0.5


def build_workspace(root: Path, count: int) -> None:
    """A workspace of ``count`` completed runs over 5 experiments; half have metrics."""
    from _workspaces import many_runs

    many_runs(root, count)


def runner_command() -> list[str]:
    """The console script next to this interpreter (else ``python -m runner``)."""
    script = Path(sys.executable).with_name("runner")
    found = str(script) if script.exists() else shutil.which("runner")
    return [found] if found else [sys.executable, "-m", "runner"]


def time_command(argv: list[str], repeat: int, env: dict[str, str]) -> dict[str, Any]:
    """Best and median wall seconds of ``argv`` (after one warm-up run), and the
    median CPU seconds (user + system) of the child, which a busy machine skews less."""
    subprocess.run(argv, check=True, capture_output=True, env=env)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"best": round(min(walls), 4), "median": round(statistics.median(walls), 4),
            "cpu_median": round(statistics.median(cpus), 4),
            "output_bytes": len(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp) / "ws"
        # As installed: bytecode cached (in the temporary folder, not the source tree),
        # even where PYTHONDONTWRITEBYTECODE is set; "uncached" compiles every module.
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        uncached = dict(env, PYTHONDONTWRITEBYTECODE="1")
        started = time.perf_counter()
        build_workspace(root, args.runs)
        build_seconds = time.perf_counter() - started
        command = [*runner_command(), "--workspace", str(root)]
        result = {
            "benchmark": "cli_runs",
            "runs": args.runs,
            "command": os.path.basename(command[0]),
            "build_seconds": round(build_seconds, 2),
            "python_startup": time_command([sys.executable, "-c", "pass"], args.repeat, cached),
            "runner_version": time_command([*command[:-2], "--version"], args.repeat, cached),
            "runner_runs": time_command([*command, "runs"], args.repeat, cached),
            "runner_runs_json": time_command([*command, "runs", "--json"], args.repeat, cached),
            "uncached_runner_runs": time_command([*command, "runs"], args.repeat, uncached),
            "target_seconds": TARGET_SECONDS,
        }
        result["ok"] = max(result["runner_runs"]["best"],
                           result["runner_runs_json"]["best"]) <= TARGET_SECONDS
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
