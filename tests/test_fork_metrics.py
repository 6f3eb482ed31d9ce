"""Forked and multiprocessing children store their own values once, and none are lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = textwrap.dedent("""
    import json, multiprocessing, os, sys
    from runner import Experiment, Run, Workspace

    def work(root, run_id, index):
        run = Run(Experiment(Workspace(root), "fork"), run_id)
        for i in range(200):
            run.log(f"w{index}", float(i))

    def forked_work(run, index):
        for i in range(200):
            run.log(f"w{index}", float(i))

    if __name__ == "__main__":
        root, mode = sys.argv[1], sys.argv[2]
        run = Experiment(Workspace(root), "fork").start_logging(
            snapshot_directory=None, outputs=False)
        for i in range(1000):
            run.log("parent", float(i))
        if mode == "os.fork":
            pid = os.fork()
            if pid == 0:
                for i in range(10):
                    run.log("child", float(i))
                sys.exit(0)
            os.waitpid(pid, 0)
        elif mode == "fork":
            ctx = multiprocessing.get_context("fork")
            procs = [ctx.Process(target=forked_work, args=(run, i)) for i in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        else:
            ctx = multiprocessing.get_context(mode)
            procs = [ctx.Process(target=work, args=(root, run.id, i)) for i in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        run.complete()
        print(json.dumps({k: len(v) if isinstance(v, list) else 1
                          for k, v in run.get_metrics().items()}))
""")


def _counts(tmp_path: Path, mode: str) -> dict[str, int]:
    from runner import Workspace

    ws = Workspace.create(tmp_path / "ws")
    script = tmp_path / "forks.py"
    script.write_text(_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(ws.root), mode],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert 0 == proc.returncode, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_os_fork_child_does_not_store_the_parents_values_again(tmp_path: Path):
    """After os.fork the parent's 1000 buffered values are stored once, the child's 10 too."""
    assert {"parent": 1000, "child": 10} == _counts(tmp_path, "os.fork")


@pytest.mark.parametrize("mode", ["fork", "forkserver", "spawn"])
def test_multiprocessing_workers_values_are_all_stored(tmp_path: Path, mode: str):
    """Workers that end with os._exit (fork, forkserver, spawn) keep all 200 values each."""
    assert {"parent": 1000, "w0": 200, "w1": 200} == _counts(tmp_path, mode)
