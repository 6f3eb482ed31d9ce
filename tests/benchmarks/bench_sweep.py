"""The sweep's own cost per trial, beyond submitting the same runs plainly.

Run by hand: ``python tests/benchmarks/bench_sweep.py [--trials N] [--concurrent C]
[--repeat R]``; prints JSON. Target: ``overhead_ms_per_trial`` <= 50.

Both sides run N trials of a one-line script, C at a time, through the same local queue
(workspace ``max_concurrent_runs: C``), and wait for all of them:

* plain: N ``exp.submit(ScriptRunConfig)`` calls with ``--x i`` arguments, then waiting;
* sweep: one ``HyperDriveConfig`` of N random trials with a Bandit policy, submitted and
  waited for; its owner samples, submits, reads metrics and asks the policy every look.

``overhead_ms_per_trial = (median sweep - median plain) / N``. The pure parts are timed
apart too: one ``suggest`` + ``decide`` over a history of N trials (``decide_ms``), and the
time from a trial's end to the owner's submitting the next one (``refill_ms_median``).

The sweep can come out faster than the plain submits: its trials reuse the snapshot taken
once for the sweep, and it submits a trial when a place frees up (woken by the trial's
supervisor exiting) where a plain run queued behind others polls for its slot.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "import sys\nfrom runner import Run\nRun.get_context().log('score', float(sys.argv[2]))\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--concurrent", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from runner import (
        BanditPolicy,
        Experiment,
        HyperDriveConfig,
        PrimaryMetricGoal,
        RandomParameterSampling,
        ScriptRunConfig,
        Workspace,
        uniform,
    )

    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        src = root / "src"
        src.mkdir()
        (src / "script.py").write_text(SCRIPT)
        ws = Workspace.create(root / "ws")
        ws.paths.config.write_text(f"max_concurrent_runs: {args.concurrent}\n")
        ws._config = None
        exp = Experiment(ws, "bench")
        sampling = RandomParameterSampling({"--x": uniform(0, 1)}, seed=1)
        policy = BanditPolicy(slack_factor=0.5, delay_evaluation=1)

        refills: list[float] = []

        def plain() -> None:
            runs = [exp.submit(ScriptRunConfig(str(src), "script.py", ["--x", str(i / 10)]))
                    for i in range(args.trials)]
            for run in runs:
                run.wait_for_completion()

        def sweep() -> None:
            config = HyperDriveConfig(
                run_config=ScriptRunConfig(str(src), "script.py"),
                hyperparameter_sampling=sampling, policy=policy, primary_metric_name="score",
                primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=args.trials,
                max_concurrent_runs=args.concurrent)
            run = exp.submit(config)
            run.wait_for_completion()
            rows = sorted(ws.store.children(run.id), key=lambda r: r["created"])
            ends = sorted(r["end_time"] for r in rows)
            # The k-th trial after the first C waits for the k-th trial to end.
            refills.extend(rows[k + args.concurrent]["created"] - ends[k]
                           for k in range(len(rows) - args.concurrent))

        plain()  # warm: snapshot, shim, imports
        sweep()
        plain_times, sweep_times = [], []
        for _ in range(args.repeat):
            for fn, times in ((plain, plain_times), (sweep, sweep_times)):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)

        history = [{"parameters": p, "value": i / args.trials, "finished": i % 2 == 0}
                   for i, p in enumerate(sampling.suggest(args.trials))]
        reports = {i: [0.1 * k * (i + 1) for k in range(1, 6)] for i in range(args.trials)}
        start = time.perf_counter()
        loops = 200
        for _ in range(loops):
            sampling.suggest(1, history)
            policy.decide(reports, PrimaryMetricGoal.MAXIMIZE, finished=set(range(0, 12, 2)))
        decide_ms = (time.perf_counter() - start) / loops * 1000

        plain_s = statistics.median(plain_times)
        sweep_s = statistics.median(sweep_times)
        print(json.dumps({
            "trials": args.trials,
            "concurrent": args.concurrent,
            "plain_seconds": round(plain_s, 3),
            "sweep_seconds": round(sweep_s, 3),
            "overhead_ms_per_trial": round((sweep_s - plain_s) / args.trials * 1000, 1),
            "decide_ms": round(decide_ms, 3),
            "refill_ms_median": round(statistics.median(refills) * 1000, 1) if refills
            else None,
            "target_ms_per_trial": 50,
            "python": sys.version.split()[0],
        }, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
