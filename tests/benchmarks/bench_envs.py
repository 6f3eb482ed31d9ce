"""Benchmark: building managed environments, against doing the same by hand.

Run by hand (``python tests/benchmarks/bench_envs.py [--repeat N] [--wheelhouse]``);
prints one JSON object.  Measured, each as the median of N interleaved runs
after one warm-up run of each that fills pip's and uv's caches (``--wheelhouse``
takes the network out entirely):

* ``by_hand_pip_s``: ``virtualenv DIR`` + ``DIR/bin/pip install PKGS`` (two commands)
* ``runner_pip_s``: ``prepare_environment(..., builder="pip")`` in a fresh process
* ``by_hand_uv_s`` / ``runner_uv_s``: the same with ``uv venv`` + ``uv pip install``
* ``cache_hit_ms``: ``prepare_environment`` of a built environment (median of 50
  calls in one process), and ``cache_hit_first_call_ms`` in a fresh process
  (imports included)

Targets (issue "Managed environments"): runner_pip <= 1.1 x by_hand_pip;
runner_uv <= 0.25 x by_hand_pip; cache hit <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PACKAGES = ["six==1.16.0", "packaging==24.1"]
UV_EXTRA: list[str] = []  # what a person passes uv by hand for the wheelhouse mode

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
from runner.api.environment import CondaDependencies, Environment
from runner.envs.prepare import prepare_environment
from runner.core.paths import WorkspacePaths
env = Environment("bench")
env.python.conda_dependencies = CondaDependencies.create(pip_packages={packages!r})
paths = WorkspacePaths(sys.argv[1])
paths.runner_dir.mkdir(parents=True, exist_ok=True)
with open(paths.root / "env_build.txt", "wb") as log:
    call = time.perf_counter()
    r = prepare_environment(env, paths, log, builder=sys.argv[2])
done = time.perf_counter()
print(json.dumps({{"call_s": done - call, "process_s": done - started, "hit": r.cache_hit}}))
"""


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def by_hand_pip(tmp: Path) -> float:
    """virtualenv + pip install, as a person would type them."""
    target = tmp / "venv"
    started = time.perf_counter()
    _run([sys.executable, "-m", "virtualenv", "-q", str(target)])
    _run([str(target / "bin" / "pip"), "install", "-q", *PACKAGES])
    return time.perf_counter() - started


def by_hand_uv(tmp: Path, uv: str) -> float:
    """uv venv + uv pip install, as a person would type them."""
    target = tmp / "venv"
    started = time.perf_counter()
    _run([uv, "venv", "-q", "--python", sys.executable, str(target)])
    _run([uv, "pip", "install", "-q", "--python", str(target / "bin" / "python"), *UV_EXTRA,
          *PACKAGES])
    return time.perf_counter() - started


def runner_build(tmp: Path, builder: str) -> dict:
    """prepare_environment in a fresh process and a fresh workspace (a cold build)."""
    script = tmp / "child.py"
    script.write_text(_CHILD.format(root=str(ROOT), packages=PACKAGES))
    out = subprocess.run([sys.executable, str(script), str(tmp / "ws"), builder], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["hit"] is False, "expected a cold build"
    return result


def cache_hit(tmp: Path) -> dict:
    """Hit timings on an environment built once."""
    from runner.api.environment import CondaDependencies, Environment
    from runner.core.paths import WorkspacePaths
    from runner.envs.prepare import prepare_environment

    runner_build(tmp, "auto")
    script = tmp / "child.py"
    first = json.loads(subprocess.run([sys.executable, str(script), str(tmp / "ws"), "auto"],
                                      check=True, capture_output=True, text=True
                                      ).stdout.strip().splitlines()[-1])
    env = Environment("bench")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=PACKAGES)
    paths = WorkspacePaths(tmp / "ws")
    times = []
    for _ in range(50):
        started = time.perf_counter()
        resolved = prepare_environment(env, paths, None)
        times.append(time.perf_counter() - started)
        assert resolved.cache_hit
    return {"cache_hit_ms": round(statistics.median(times) * 1000, 3),
            "cache_hit_max_ms": round(max(times) * 1000, 3),
            "cache_hit_first_call_ms": round(first["call_s"] * 1000, 3),
            "cache_hit_fresh_process_ms": round(first["process_s"] * 1000, 3)}


def _once(fn, *args) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench-envs-"))
    try:
        value = fn(tmp, *args)
        return value["call_s"] if isinstance(value, dict) else value
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wheelhouse", action="store_true",
                        help="install from a local wheelhouse (PIP_NO_INDEX + PIP_FIND_LINKS, "
                             "no network) instead of the configured index")
    args = parser.parse_args()
    from runner.envs.build import find_uv

    uv = find_uv()
    result: dict = {"packages": PACKAGES, "repeat": args.repeat, "python": sys.version.split()[0],
                    "uv": uv, "source": "wheelhouse" if args.wheelhouse else "index"}
    house = Path(tempfile.mkdtemp(prefix="bench-wheels-"))
    try:
        if args.wheelhouse:
            _run([sys.executable, "-m", "pip", "download", "-q", "-d", str(house), *PACKAGES])
            os.environ["PIP_NO_INDEX"] = "1"
            os.environ["PIP_FIND_LINKS"] = str(house)
            UV_EXTRA.extend(["--no-index", "-f", str(house)])
        cases = {"by_hand_pip": (by_hand_pip,), "runner_pip": (runner_build, "pip")}
        if uv:
            cases["by_hand_uv"] = (by_hand_uv, uv)
            cases["runner_uv"] = (runner_build, "uv")
        for fn, *rest in cases.values():  # warm-up: fills pip's and uv's caches
            _once(fn, *rest)
        runs: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved, so load changes hit every case alike
            for name, (fn, *rest) in cases.items():
                runs[name].append(_once(fn, *rest))
        tmp = Path(tempfile.mkdtemp(prefix="bench-envs-"))
        try:
            result.update(cache_hit(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        shutil.rmtree(house, ignore_errors=True)
    for name, values in runs.items():
        result[f"{name}_s"] = statistics.median(values)
        result[f"{name}_runs"] = [round(v, 3) for v in values]
    result["runner_pip_ratio"] = result["runner_pip_s"] / result["by_hand_pip_s"]
    if uv:
        result["runner_uv_ratio_vs_by_hand_pip"] = result["runner_uv_s"] / result["by_hand_pip_s"]
        result["runner_uv_ratio_vs_by_hand_uv"] = result["runner_uv_s"] / result["by_hand_uv_s"]
    for key, value in list(result.items()):
        if isinstance(value, float):
            result[key] = round(value, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
