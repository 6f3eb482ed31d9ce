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

``phases_ms`` splits each submitted case's median by what the run's record says
(``created``, ``start_time`` when the script was launched, ``end_time``):
``before_record`` (submit's own work up to writing the run row; for ``cli`` the
command's start-up too), ``supervisor_to_launch``, ``script_to_end`` (the script's
whole life, its supervisor reaping and finalizing it) and ``end_to_return`` (the
waiter noticing; for ``cli`` also the command's exit). ``submit_returned`` is when
``exp.submit()`` returned, from its call.
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

        phases: dict[str, list[dict[str, float]]] = {}

        def record(name: str, run_id: str, called: float, returned: float | None) -> None:
            done = time.time()
            row = ws.store.get_run(run_id)
            phase = {
                "before_record": row["created"] - called,
                "supervisor_to_launch": row["start_time"] - row["created"],
                "script_to_end": row["end_time"] - row["start_time"],
                "end_to_return": done - row["end_time"],
            }
            if returned is not None:
                phase["submit_returned"] = returned - called
            phases.setdefault(name, []).append(phase)

        def submitted(name: str, cfg: ScriptRunConfig) -> None:
            called = time.time()
            run = exp.submit(cfg)
            returned = time.time()
            details = run.wait_for_completion()
            assert details["status"] == "Completed", details
            record(name, run.id, called, returned)

        def from_python() -> None:
            submitted("python", config)

        def user_managed() -> None:
            submitted("user_managed", user_config)

        def via_cli() -> None:
            called = time.time()
            subprocess.run([runner_cmd, "submit", "--experiment", "bench", "--source-dir",
                            str(src), "script.py"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            newest = ws.store.read("SELECT id FROM runs ORDER BY created DESC LIMIT 1")
            record("cli", newest[0][0], called, None)

        cases = {"bare": bare, "python": from_python, "bare_path": bare_path,
                 "user_managed": user_managed, "cli": via_cli}
        cli_error = None
        for name, fn in list(cases.items()):  # warm: snapshot taken, shim built, caches
            try:
                fn()
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                cli_error = f"{name}: {exc}"
                del cases[name]
        phases.clear()
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
            "phases_ms": {name: {key: round(statistics.median(p[key] for p in runs) * 1000, 1)
                                 for key in runs[0]}
                          for name, runs in phases.items()},
        }
        if cli_error:
            result["error"] = cli_error
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
