"""Latency from a line written by a running script to the line shown by
``wait_for_completion(show_output=True)``, in another process than the run.

Run by hand: ``python tests/benchmarks/bench_log_latency.py``; prints JSON.
Target: p95 <= 100 ms.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

LINES = 60


class _Clock:
    """A stdout stand-in that notes when each streamed 'tick' line arrives."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._buffer = ""

    def write(self, text: str) -> int:
        now = time.time()
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.startswith("tick "):
                self.delays.append(now - float(line.split()[1]))
        return len(text)

    def flush(self) -> None:
        pass


def main() -> None:
    from runner import Experiment, Run, ScriptRunConfig, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        src = root / "src"
        src.mkdir()
        (src / "ticks.py").write_text(textwrap.dedent(f"""
            import time
            for _ in range({LINES}):
                print("tick", repr(time.time()), flush=True)
                time.sleep(0.05)
        """))
        ws = Workspace.create(root / "ws")
        run = Experiment(ws, "latency").submit(ScriptRunConfig(str(src), "ticks.py"))
        reader = Run.get(Workspace.get(ws.root), run.id)
        clock = _Clock()
        # A fresh handle: the waiter learns of new lines from file events only.
        from runner.execution import owner as _owner

        _owner._done.pop(run.id, None)
        with contextlib.redirect_stdout(clock):
            reader.wait_for_completion(show_output=True)
        delays = sorted(d * 1000 for d in clock.delays)
        p95 = delays[int(0.95 * (len(delays) - 1))]
        print(json.dumps({
            "lines": len(delays),
            "median_ms": round(statistics.median(delays), 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(delays[-1], 2),
        }, indent=2), file=sys.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
