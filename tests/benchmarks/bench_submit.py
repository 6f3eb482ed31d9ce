"""Submit of a one-line script to its completion, against `python script.py`.

Run by hand: ``python tests/benchmarks/bench_submit.py [--repeat N]``; prints JSON.
Targets: from Python (submit + wait_for_completion in a running process)
<= 1.5x the bare script; via ``runner submit`` <= 3.5x.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()

    from runner import Experiment, ScriptRunConfig, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    try:
        src = root / "src"
        src.mkdir()
        (src / "script.py").write_text("print('hello')\n")
        ws = Workspace.create(root / "ws")
        exp = Experiment(ws, "bench")
        config = ScriptRunConfig(str(src), "script.py")

        def bare() -> None:
            subprocess.run([sys.executable, "script.py"], cwd=src, check=True,
                           stdout=subprocess.DEVNULL)

        def from_python() -> None:
            run = exp.submit(config)
            run.wait_for_completion()

        env = dict(os.environ, RUNNER_WORKSPACE=str(ws.root))
        # As on a user's machine: compiled modules are cached after the first start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # The console script itself (a version manager's shim would add its own start-up).
        beside = Path(sys.executable).with_name("runner")
        runner_cmd = str(beside) if beside.exists() else (shutil.which("runner") or "runner")

        def via_cli() -> None:
            subprocess.run([runner_cmd, "submit", "--experiment", "bench", "--source-dir",
                            str(src), "script.py"], env=env, check=True,
                           stdout=subprocess.DEVNULL)

        bare()
        from_python()  # warm: snapshot taken, shim built
        try:
            via_cli()
            cli = via_cli
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            cli = None
            cli_error = str(exc)
        # Interleaved, so that all three see the same load on the machine.
        times: dict[str, list[float]] = {"bare": [], "python": [], "cli": []}
        for _ in range(args.repeat):
            for name, fn in (("bare", bare), ("python", from_python), ("cli", cli)):
                if fn is None:
                    continue
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        t_bare = statistics.median(times["bare"])
        t_py = statistics.median(times["python"])
        result = {
            "python_script_s": round(t_bare, 4),
            "submit_wait_from_python_s": round(t_py, 4),
            "ratio_from_python": round(t_py / t_bare, 2),
            "best_ratio_from_python": round(min(times["python"]) / min(times["bare"]), 2),
        }
        if cli is not None:
            t_cli = statistics.median(times["cli"])
            result["runner_submit_cli_s"] = round(t_cli, 4)
            result["ratio_cli"] = round(t_cli / t_bare, 2)
            result["best_ratio_cli"] = round(min(times["cli"]) / min(times["bare"]), 2)
        else:
            result["runner_submit_cli_error"] = cli_error
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
