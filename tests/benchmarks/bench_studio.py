"""Benchmark: the studio's runs page at 10,000 runs and a 1,000,000-point metric series.

Run by hand (pytest does not collect it); needs the studio extra (and, for the browser
figures, playwright with Chromium at /usr/bin/chromium or $CHROMIUM)::

    python tests/benchmarks/bench_studio.py [--runs 10000] [--points 1000000] [--repeat 7]

Builds a workspace in a temporary folder with direct store calls (10,000
completed runs over 5 experiments, half with metrics, a third with tags, and
one run holding a metric of ``--points`` floats), serves it with uvicorn on a
free loopback port in a thread, and times whole HTTP responses (request sent to
last byte read) as a browser gets them. Prints one JSON object of seconds.

Targets: the runs page (HTML with its first page of runs embedded) 0.3 s or
less; the series endpoint downsampling the big metric to 2,000 points 0.5 s or
less. Also reported, not targeted: the first page as JSON, a page sorted by a
metric (every run read; first time and cached), the runs page filtered by text and by a
filter expression, a 20,000-point series and a zoomed range; every request asks for gzip
as browsers do, and ``bytes`` is what went over the wire.

``concurrent``: eight 20,000-point requests of the 1M metric at once, with the studio's
resident memory sampled every 10 ms (its peak over the idle level before them) and a
status request timed while they run. ``browser``: in headless Chromium, the first
contentful paint and the moment the 1M chart is drawn on its run page, and the same for
the runs page listing 10,000 runs (milliseconds from navigation start).
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
    ids = [r["id"] for r in store.query_runs(include_children=True)]
    for i, run_id in enumerate(ids):
        store.set_params(run_id, {"alpha": i / len(ids), "batch": 16 << (i % 3)}, "arguments")
    return big


def time_get(port: int, path: str, repeat: int) -> dict[str, Any]:
    """Best and median seconds of GET ``path`` (whole response), after one warm-up."""
    def once() -> tuple[float, int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
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


def concurrent(port: int, path: str, status_path: str, clients: int = 8) -> dict[str, Any]:
    """Peak resident memory over idle while ``clients`` GET ``path`` at once, and the time
    of one status request meanwhile."""
    import threading

    import psutil

    me = psutil.Process()
    idle = me.memory_info().rss
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.01)

    def get(target: str) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        conn.request("GET", target, headers={"Accept-Encoding": "gzip"})
        conn.getresponse().read()
        conn.close()
        return time.perf_counter() - started

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    times: list[float] = []
    workers = [threading.Thread(target=lambda: times.append(get(path))) for _ in range(clients)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(0.05)
    status_seconds = get(status_path)
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"clients": clients, "wall_seconds": round(wall, 3),
            "slowest_seconds": round(max(times), 3),
            "status_during_seconds": round(status_seconds, 4),
            "rss_idle_mb": round(idle / 2**20, 1), "rss_peak_mb": round(peak[0] / 2**20, 1),
            "rss_growth_mb": round((peak[0] - idle) / 2**20, 1)}


def browser_times(base: str, big: str) -> dict[str, Any]:
    """First paint and drawn times (ms) of the 1M run page and the 10,000-run runs page."""
    import shutil

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        return {"skipped": f"no chromium at {chromium}"}
    paint = ("() => (performance.getEntriesByName('first-contentful-paint')[0] || {})"
             ".startTime")
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for label, path, ready in (
                ("run_page_1m", f"/runs/{big}",
                 '.card[data-metric="signal"] .plot[data-drawn="1"]'),
                ("runs_page_10k", "/runs", "#runs tbody tr")):
            samples = []
            for _ in range(3):
                page.goto(base + path)
                page.wait_for_selector(ready, timeout=60_000)
                drawn = page.evaluate("() => performance.now()")
                samples.append({"first_paint_ms": round(page.evaluate(paint) or 0, 1),
                                "drawn_ms": round(drawn, 1)})
            out[label] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        browser.close()
    return out


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
                "api_runs_filter_expression": time_get(
                    port, "/api/runs?filter=metrics.accuracy%20%3E%200.7%20and%20"
                          "params.alpha%20%3E%3D%200.5", args.repeat),
                "series_2000_of_1m": time_get(
                    port, f"/api/runs/{big}/series?name=signal&points=2000", args.repeat),
                "series_20000_of_1m": time_get(
                    port, f"/api/runs/{big}/series?name=signal&points=20000", args.repeat),
                "series_zoom_10000_of_1m": time_get(
                    port, f"/api/runs/{big}/series?name=signal&points=20000"
                          "&x_min=500000&x_max=509999", args.repeat),
                "concurrent": concurrent(
                    port, f"/api/runs/{big}/series?name=signal&points=20000",
                    f"/api/runs/{big}/status"),
                "browser": browser_times(server.url, big),
                "targets": {"runs_page": RUNS_PAGE_TARGET, "series": SERIES_TARGET},
            }
    result["ok"] = (result["runs_page"]["median"] <= RUNS_PAGE_TARGET
                    and result["series_2000_of_1m"]["median"] <= SERIES_TARGET)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
