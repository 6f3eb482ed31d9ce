"""Workspaces full of runs, made fast for the benchmarks (not collected by pytest)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any


def many_runs(root: Path, count: int, *, tag_every: int = 0) -> Any:
    """A workspace of ``count`` completed runs over 5 experiments; half have three
    scalar metrics; every ``tag_every``-th run is tagged. Returns the workspace."""
    from runner import Workspace

    ws = Workspace.create(root)
    store = ws.store
    base = time.time() - count * 60
    for i in range(count):
        run_id = str(uuid.uuid4())
        start = base + i * 60
        store.insert_run(
            run_id, f"experiment-{i % 5}", type="script", status="Completed",
            display_name=f"trial {i}" if i % 3 == 0 else None,
            created=start, start_time=start + 0.5, end_time=start + 42.0, exit_code=0,
            definition={"script": "train.py", "arguments": ["--alpha", i / count]},
        )
        if i % 2 == 0:
            store.write_metrics(run_id, [
                ("loss", "scalar", [1.0 / (k + 1) for k in range(10)], None, None),
                ("accuracy", "scalar", [0.5 + i / (2 * count)], None, None),
                ("epochs", "scalar", [10], None, None),
            ])
        if tag_every and i % tag_every == 0:
            store.set_tags(run_id, {"sweep": str(i % 7), "owner": "bench"})
    return ws
