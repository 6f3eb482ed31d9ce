"""Benchmark: ``get_metrics()`` of a run holding 1,000,000 values of one metric.

Run by hand (pytest does not collect it)::

    python tests/benchmarks/bench_get_metrics.py [--points 1000000] [--repeat 5]

Logs ``--points`` floats into one metric of a run in a temporary workspace and
completes it, then times ``get_metrics()`` on a fresh ``Run`` handle each time
(nothing cached in the handle) and prints one JSON object of seconds.
Target: 0.5 s or less.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5


def bench(root: Path, points: int, repeat: int) -> dict:
    """Build a run of ``points`` values under ``root`` and time reading them back."""
    from runner import Experiment, Run, Workspace

    ws = Workspace.create(root)
    exp = Experiment(ws, "bench")
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    for i in range(points):
        run.log("loss", 1.0 / (i + 1))
    run.complete()
    run_id = run.id
    del run
    gc.collect()
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        fresh = Run(Experiment(Workspace(root), "bench"), run_id)
        metrics = fresh.get_metrics()
        times.append(time.perf_counter() - start)
        count = len(metrics["loss"])
        del fresh, metrics
        gc.collect()
    return {
        "benchmark": "get_metrics() of one metric, fresh handle",
        "points": points,
        "values_returned": count,
        "repeat": repeat,
        "seconds_first": round(times[0], 4),
        "seconds_median": round(statistics.median(times), 4),
        "seconds_max": round(max(times), 4),
        "target_seconds": TARGET_SECONDS,
        "meets_target": max(times) <= TARGET_SECONDS and count == points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runner-bench-metrics-"))
    try:
        result = bench(root / "ws", args.points, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
