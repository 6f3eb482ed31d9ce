"""Submit of a one-line script that logs one metric, to its completion, against
``python script.py``.

Run by hand (compiled modules cached, as on a user's machine)::

    env -u PYTHONDONTWRITEBYTECODE python tests/benchmarks/bench_submit.py [--repeat N]

Prints JSON. Cases, interleaved so that all see the same load:

- ``bare``: ``python script.py`` (the script logs offline).
- ``python``: ``exp.submit(cfg)`` + ``wait_for_completion()`` in this (warm) process,
  default environment (this interpreter).
- ``user_managed``: the same with ``python.user_managed_dependencies = True`` and
  ``interpreter_path="python"`` found on PATH (what a v1 script does), against
  ``python script.py`` run through that same PATH entry (``bare_path``).
- ``cli``: ``runner submit script.py``.

Targets: ``python`` and ``user_managed`` <= 1.5x their bare run; ``cli`` <= 3.5x.
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

SCRIPT = "from runner import Run; Run.get_context().log('loss', 0.5)\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()

    from runner import Environment, Experiment, ScriptRunConfig, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    try:
        src = root / "src"
        src.mkdir()
        (src / "script.py").write_text(SCRIPT)
        ws = Workspace.create(root / "ws")
        exp = Experiment(ws, "bench")
        config = ScriptRunConfig(str(src), "script.py")
        user_env = Environment("user")
        user_env.python.user_managed_dependencies = True
        user_env.python.interpreter_path = "python"
        user_config = ScriptRunConfig(str(src), "script.py", environment=user_env)
        on_path = shutil.which("python") or sys.executable

        env = dict(os.environ, RUNNER_WORKSPACE=str(ws.root))
        # As on a user's machine: compiled modules are cached after the first start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # The console script itself (a version manager's shim would add its own start-up).
        beside = Path(sys.executable).with_name("runner")
        runner_cmd = str(beside) if beside.exists() else (shutil.which("runner") or "runner")

        def bare() -> None:
            subprocess.run([sys.executable, "script.py"], cwd=src, check=True, env=env,
                           stdout=subprocess.DEVNULL)

        def bare_path() -> None:
            subprocess.run([on_path, "script.py"], cwd=src, check=True, env=env,
                           stdout=subprocess.DEVNULL)

        def from_python() -> None:
            run = exp.submit(config)
            details = run.wait_for_completion()
            assert details["status"] == "Completed", details

        def user_managed() -> None:
            run = exp.submit(user_config)
            details = run.wait_for_completion()
            assert details["status"] == "Completed", details

        def via_cli() -> None:
            subprocess.run([runner_cmd, "submit", "--experiment", "bench", "--source-dir",
                            str(src), "script.py"], env=env, check=True,
                           stdout=subprocess.DEVNULL)

        cases = {"bare": bare, "python": from_python, "bare_path": bare_path,
                 "user_managed": user_managed, "cli": via_cli}
        cli_error = None
        for name, fn in list(cases.items()):  # warm: snapshot taken, shim built, caches
            try:
                fn()
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                cli_error = f"{name}: {exc}"
                del cases[name]
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, fn in cases.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        base = {"python": "bare", "user_managed": "bare_path", "cli": "bare"}
        result: dict[str, object] = {
            "python": sys.executable, "python_on_path": on_path, "repeat": args.repeat,
            "median_s": {name: round(t, 4) for name, t in med.items()},
            "ratio": {name: round(med[name] / med[b], 2)
                      for name, b in base.items() if name in med},
            "best_ratio": {name: round(min(times[name]) / min(times[b]), 2)
                           for name, b in base.items() if name in med},
            "targets": {"python": 1.5, "user_managed": 1.5, "cli": 3.5},
        }
        if cli_error:
            result["error"] = cli_error
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
