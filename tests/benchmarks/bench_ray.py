"""The runner on top of Ray: overhead per trivial job, and metric latency from the cluster.

Run by hand against a head (``bash .ci/ray.sh run -- python tests/benchmarks/bench_ray.py``,
or ``RUNNER_TEST_RAY_ADDRESS=http://127.0.0.1:8265 python tests/benchmarks/bench_ray.py
[--repeat N]``); prints JSON.

Targets: submit -> Completed of a one-line script through the runner <= 1.2x a bare Jobs
API submission of the same script (zip + upload + POST with the same 1 CPU, then polling
the status every 0.1 s, as a careful client would); metrics logged on the cluster are in
the store within 2 s; a resubmit of an unchanged snapshot uploads nothing (``--big-mib``
of data in the snapshot make the difference visible); the owner's peak RSS while the job
prints a ``--log-mib`` log stays flat (the log is tailed, never held whole).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

TRIVIAL = "print('hello')\n"
TIMED = """
import time
from runner import Run
run = Run.get_context()
for i in range(20):
    run.log("t", time.time())
    time.sleep(0.25)
"""


def _call(address: str, method: str, path: str, body: bytes | None = None,
          ctype: str | None = None) -> bytes:
    req = urllib.request.Request(address + path, data=body, method=method,
                                 headers={"Content-Type": ctype} if ctype else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def bare_job(address: str, source: Path) -> float:
    """Seconds from zipping ``source`` to SUCCEEDED with the plain Jobs API."""
    start = time.perf_counter()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for path in source.rglob("*"):
            z.write(path, path.relative_to(source).as_posix())
        z.writestr(".marker", uuid.uuid4().hex)  # a fresh package each time, as runner's
    name = f"_ray_pkg_{uuid.uuid4().hex}.zip"
    try:
        _call(address, "GET", f"/api/packages/gcs/{name}")
    except urllib.error.HTTPError:
        pass
    _call(address, "PUT", f"/api/packages/gcs/{name}", buffer.getvalue())
    sid = f"bare_{uuid.uuid4().hex[:12]}"
    _call(address, "POST", "/api/jobs/", json.dumps({
        "entrypoint": "python script.py", "submission_id": sid,
        "runtime_env": {"working_dir": f"gcs://{name}"}, "entrypoint_num_cpus": 1,
    }).encode(), "application/json")
    while True:
        status = json.loads(_call(address, "GET", f"/api/jobs/{sid}"))["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            assert status == "SUCCEEDED", status
            return time.perf_counter() - start
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--address", default=os.environ.get("RUNNER_TEST_RAY_ADDRESS"))
    parser.add_argument("--big-mib", type=int, default=50)
    parser.add_argument("--log-mib", type=int, default=100)
    args = parser.parse_args()
    if not args.address:
        sys.exit("no Ray head: pass --address or set RUNNER_TEST_RAY_ADDRESS")

    from runner import Environment, Experiment, RayCluster, ScriptRunConfig, Workspace
    from runner.server import ServerThread

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    src = root / "src"
    src.mkdir()
    (src / "script.py").write_text(TRIVIAL)
    (src / "timed.py").write_text(TIMED)
    ws = Workspace.create(root / "ws")
    exp = Experiment(ws, "bench")
    env = Environment("cluster")
    env.python.user_managed_dependencies = True
    with ServerThread(ws) as server:
        target = RayCluster(args.address, tracking_uri=server.url)
        config = ScriptRunConfig(str(src), "script.py", environment=env, compute_target=target)

        def through_runner() -> float:
            start = time.perf_counter()
            run = exp.submit(config)
            status = run.wait_for_completion()["status"]
            assert status == "Completed", run.get_details()
            return time.perf_counter() - start

        bare_job(args.address, src)  # warm the cluster (first job starts workers)
        through_runner()
        bare, ours = [], []
        for _ in range(args.repeat):  # interleaved, so drift hits both alike
            bare.append(bare_job(args.address, src))
            ours.append(through_runner())

        timed = exp.submit(ScriptRunConfig(str(src), "timed.py", environment=env,
                                           compute_target=target))
        seen: dict[float, float] = {}
        while timed.get_status() not in ("Completed", "Failed", "Canceled"):
            now = time.time()
            for value in (ws.store.read_metrics(timed.id).get("t", ("", []))[1]):
                seen.setdefault(value, now)
            time.sleep(0.02)
        latencies = sorted(arrived - logged for logged, arrived in seen.items())
        resubmit = _resubmit(exp, env, target, root, args.big_mib)
        rss = _owner_rss(ws, exp, env, target, root, args.log_mib)
    result = {
        "benchmark": "ray",
        "repeat": args.repeat,
        "bare_jobs_api_median_s": round(statistics.median(bare), 3),
        "runner_median_s": round(statistics.median(ours), 3),
        "overhead_ratio": round(statistics.median(ours) / statistics.median(bare), 3),
        "bare_s": [round(t, 3) for t in bare],
        "runner_s": [round(t, 3) for t in ours],
        "metric_values_seen": len(latencies),
        "metric_latency_median_s": round(statistics.median(latencies), 3) if latencies else None,
        "metric_latency_max_s": round(latencies[-1], 3) if latencies else None,
        **resubmit,
        **rss,
        "targets": {"overhead_ratio": 1.2, "metric_latency_max_s": 2.0,
                    "resubmit_uploaded": False},
    }
    print(json.dumps(result))


def _note(run) -> str:
    return (run.folder / "logs" / "env_build.txt").read_text()


def _resubmit(exp, env, target, root: Path, big_mib: int) -> dict:
    """Two runs of one unchanged snapshot holding ``big_mib`` MiB: what each uploaded."""
    from runner import ScriptRunConfig

    src = root / "big"
    src.mkdir()
    (src / "script.py").write_text(TRIVIAL)
    (src / "data.bin").write_bytes(os.urandom(big_mib * 2**20))
    config = ScriptRunConfig(str(src), "script.py", environment=env, compute_target=target)
    times, notes = [], []
    for _ in range(2):
        start = time.perf_counter()
        run = exp.submit(config)
        assert run.wait_for_completion()["status"] == "Completed"
        times.append(time.perf_counter() - start)
        notes.append(_note(run).splitlines()[0])
    return {"snapshot_mib": big_mib, "first_submit_s": round(times[0], 3),
            "resubmit_s": round(times[1], 3), "first_note": notes[0], "resubmit_note": notes[1],
            "resubmit_uploaded": "Uploaded the snapshot" in notes[1]}


def _owner_rss(ws, exp, env, target, root: Path, log_mib: int) -> dict:
    """Peak RSS of the run's owner while the job prints ``log_mib`` MiB."""
    import psutil

    from runner import ScriptRunConfig

    src = root / "loud"
    src.mkdir()
    (src / "loud.py").write_text(
        "import sys\nline = 'x' * 1023 + '\\n'\n"
        f"for _ in range({log_mib} * 1024):\n    sys.stdout.write(line)\n")
    run = exp.submit(ScriptRunConfig(str(src), "loud.py", environment=env,
                                     compute_target=target))
    owner = psutil.Process(ws.store.get_run(run.id)["owner_pid"])
    peak = 0
    samples = []
    while run.get_status() not in ("Completed", "Failed", "Canceled"):
        try:
            rss = owner.memory_info().rss
        except psutil.Error:
            break
        peak = max(peak, rss)
        samples.append(rss)
        time.sleep(0.1)
    run.wait_for_completion()
    stored = (run.folder / "logs" / "std_log.txt").stat().st_size
    return {"log_mib": log_mib, "stored_log_mib": round(stored / 2**20, 1),
            "owner_rss_peak_mib": round(peak / 2**20, 1),
            "owner_rss_first_mib": round(samples[0] / 2**20, 1) if samples else None}


if __name__ == "__main__":
    main()
