"""Benchmark: ``run.log(name, float)`` in a tight loop into a real run.

Run by hand (pytest does not collect it)::

    python tests/benchmarks/bench_log.py [--calls 10000000] [--window 1000000]

Logs ``--calls`` floats into one metric of an interactive run in a temporary
workspace, with the background flusher writing as it goes, and prints one JSON
object: calls per second overall and per window (sustained: the slowest window
counts), resident memory after the first window and at the end (bounded memory
means the two stay close however many calls), and a durability check (the store
holds every value after ``flush()``). Target: 1,000,000 calls/s or more.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_CALLS_PER_SECOND = 1_000_000


def _rss_mb() -> float:
    """Current resident set size in MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - Linux fallback
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def bench(root: Path, calls: int, window: int) -> dict:
    """Log ``calls`` floats into a new run under ``root``; return the measurements."""
    from runner import Experiment, Workspace

    ws = Workspace.create(root)
    run = Experiment(ws, "bench").start_logging(snapshot_directory=None, outputs=False)
    log = run.log
    gc.collect()
    rss_start = _rss_mb()
    peak_start = _peak_rss_mb()
    windows = []
    rss_per_window = []
    begin = time.perf_counter()
    done = 0
    while done < calls:
        n = min(window, calls - done)
        start = time.perf_counter()
        for i in range(done, done + n):
            log("loss", i * 1e-7)
        windows.append(n / (time.perf_counter() - start))
        done += n
        rss_per_window.append(_rss_mb())
    loop_seconds = time.perf_counter() - begin
    rss_end = _rss_mb()
    start = time.perf_counter()
    run.flush()
    flush_seconds = time.perf_counter() - start
    stored = ws.store.read("SELECT count FROM metrics WHERE run_id = ? AND name = 'loss'",
                           (run.id,))[0][0]
    run.complete()
    return {
        "benchmark": "run.log(name, float)",
        "calls": calls,
        "seconds": round(loop_seconds, 3),
        "calls_per_second": round(calls / loop_seconds),
        "window_calls": window,
        "window_calls_per_second_min": round(min(windows)),
        "window_calls_per_second_max": round(max(windows)),
        "window_calls_per_second": [round(w) for w in windows],
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_after_first_window": round(rss_per_window[0], 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_mb_per_window": [round(r, 1) for r in rss_per_window],
        "peak_rss_growth_mb": round(_peak_rss_mb() - peak_start, 1),
        "final_flush_seconds": round(flush_seconds, 3),
        "stored_values": stored,
        "durable": stored == calls,
        "target_calls_per_second": TARGET_CALLS_PER_SECOND,
        "meets_target": min(windows) >= TARGET_CALLS_PER_SECOND,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--window", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runner-bench-log-"))
    try:
        result = bench(root / "ws", args.calls, args.window)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
