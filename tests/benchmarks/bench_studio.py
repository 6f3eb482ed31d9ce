"""Benchmark: the studio's runs page at 10,000 runs and a 1,000,000-point metric series.

Run by hand (pytest does not collect it); needs the studio extra::

    python tests/benchmarks/bench_studio.py [--runs 10000] [--points 1000000] [--repeat 7]

Builds a workspace in a temporary folder with direct store calls (10,000
completed runs over 5 experiments, half with metrics, a third with tags, and
one run holding a metric of ``--points`` floats), serves it with uvicorn on a
free loopback port in a thread, and times whole HTTP responses (request sent to
last byte read) as a browser gets them. Prints one JSON object of seconds.

Targets: the runs page (HTML with its first page of runs embedded) 0.3 s or
less; the series endpoint downsampling the big metric to 2,000 points 0.5 s or
less. Also reported, not targeted: the first page as JSON, a page sorted by a
metric (every run read; first time and cached), and the runs page filtered by text.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
import uuid
from array import array
from pathlib import Path
from typing import Any

RUNS_PAGE_TARGET = 0.3
SERIES_TARGET = 0.5


def build_workspace(root: Path, count: int, points: int) -> str:
    """``count`` completed runs (half with metrics, a third tagged) and one run with a
    ``points``-value metric; returns that run's id."""
    from _workspaces import many_runs

    ws = many_runs(root, count, tag_every=3)
    store = ws.store
    big = str(uuid.uuid4())
    now = time.time()
    store.insert_run(big, "big-metric", type="script", status="Completed", created=now,
                     start_time=now, end_time=now + 1, exit_code=0)
    import math

    floats = array("d", (math.sin(k / 5000) + (k % 97) / 970 for k in range(points)))
    store.write_metrics(big, [("signal", "scalar", [], None, floats)])
    return big


def time_get(port: int, path: str, repeat: int) -> dict[str, Any]:
    """Best and median seconds of GET ``path`` (whole response), after one warm-up."""
    def once() -> tuple[float, int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed, response.status, len(body)

    first, status, size = once()
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    times = [once()[0] for _ in range(repeat)]
    return {"first": round(first, 4), "best": round(min(times), 4),
            "median": round(statistics.median(times), 4), "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from runner import Workspace
    from runner.studio.server import StudioServer

    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        root = Path(tmp) / "ws"
        started = time.perf_counter()
        big = build_workspace(root, args.runs, args.points)
        build_seconds = time.perf_counter() - started
        with StudioServer(Workspace(root), port=0, register=False) as server:
            port = server.port
            runs_page = time_get(port, "/runs", args.repeat)
            result = {
                "benchmark": "studio",
                "runs": args.runs,
                "points": args.points,
                "build_seconds": round(build_seconds, 2),
                "runs_page": runs_page,
                "runs_page_experiment": time_get(port, "/experiments/experiment-1",
                                                 args.repeat),
                "api_runs_first_page": time_get(port, "/api/runs", args.repeat),
                "api_runs_sorted_by_metric": time_get(
                    port, "/api/runs?sort=metric:accuracy&page=3", args.repeat),
                "api_runs_text_filter": time_get(port, "/api/runs?q=trial%2099", args.repeat),
                "series_2000_of_1m": time_get(
                    port, f"/api/runs/{big}/series?name=signal&points=2000", args.repeat),
                "targets": {"runs_page": RUNS_PAGE_TARGET, "series": SERIES_TARGET},
            }
    result["ok"] = (result["runs_page"]["median"] <= RUNS_PAGE_TARGET
                    and result["series_2000_of_1m"]["median"] <= SERIES_TARGET)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
