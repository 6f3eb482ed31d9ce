"""Benchmark of runner.snapshot.snapshots against ``cp -r`` on the same disk (run by hand).

Usage::

    python tests/benchmarks/bench_snapshot.py [--dir DIR] [--files 5000] [--mb 100] [--rounds 3]

Builds a tree of ``--files`` files holding ``--mb`` MB of random bytes (sizes
log-normally spread, 50 folders) under a temp folder in ``--dir`` (default: the
current directory), next to a temp workspace, so both are on one filesystem.
Each round times, after an ``os.sync()`` so that earlier writes do not bill the
next step: ``cp -r``; reading + sha256 of every file; a first snapshot into a
fresh workspace and its ``materialize()``; a warm re-snapshot (unchanged tree);
a warm re-snapshot + ``materialize()``. Prints one JSON object: medians over
rounds, their ratios to ``cp -r``, and the raw rounds.

Nothing is deleted until the end: on ext4, creating files within minutes of
deleting many is slow (the inode allocator skips recently deleted inodes), which
would bill whichever step comes next. For the same reason, leave a few minutes
between two runs of this benchmark (or point --dir at another filesystem).

Then, with ``--submit`` rounds (default 3), the whole submit of the unchanged tree as
a user sees it: ``exp.submit(cfg)`` + ``wait_for_completion()`` of a one-line
script in it (snapshot reused, working copy made, run, working copy removed),
each timed next to a fresh ``cp -r`` of the tree.

With the default copies, the cold submit leaves its untouched working copy in
the workspace's pool (``runner.snapshot.workpool``) and the timed submits take it
in turn; ``pool_entries`` in the output counts what the pool held at the end.

Targets: first snapshot + materialize <= 2.0x cp -r; warm re-snapshot <= 0.05x;
warm re-snapshot + materialize <= 1.0x; whole warm submit <= 1.0x.

The whole-submit rounds use the default copies (``--link`` for ``working_copy:
link``: the linked copy links files where their read-only mode binds the process
and copies them for root, see ``runner.snapshot.workcopy``). To measure an
ordinary user's path from a root shell, drop the capability that lets root
ignore the mode::

    setpriv --bounding-set=-dac_override,-dac_read_search \
        python tests/benchmarks/bench_snapshot.py --dir DIR   # DIR: mode 755

File times are set one hour back: the stat cache does not trust files modified
in the 2 seconds before a snapshot (they could change again within one
timestamp tick unnoticed), and a real source tree is rarely that fresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runner.core.paths import WorkspacePaths
from runner.snapshot import blobs as _snapshot_copy
from runner.snapshot.snapshots import SnapshotLimits, materialize, take_snapshot


def build_tree(root: Path, files: int, total: int, seed: int = 7) -> None:
    """Write ``files`` random files summing to ``total`` bytes under ``root``."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 1.2) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[0] += total - sum(sizes)
    old = time.time() - 3600
    for i, size in enumerate(sizes):
        folder = root / f"pkg{i % 50:02d}" / f"mod{(i // 50) % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"f{i}.py" if i % 3 == 0 else f"f{i}.bin")
        path.write_bytes(rng.randbytes(size) if hasattr(rng, "randbytes") else os.urandom(size))
        os.utime(path, (old, old))
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    os.utime(root / ".gitignore", (old, old))


def timed(func) -> float:  # type: ignore[no-untyped-def]
    """Return the seconds ``func()`` takes, after flushing earlier writes."""
    os.sync()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def hash_all(root: Path) -> None:
    """Read and sha256 every file under ``root`` on one thread."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                hashlib.sha256(f.read()).hexdigest()


def one_round(base: Path, src: Path, limits: SnapshotLimits, index: int) -> dict[str, float]:
    """Time every step once, in a fresh workspace."""
    out: dict[str, float] = {}
    dst = base / f"cp-{index}"
    out["cp_r"] = timed(lambda: subprocess.run(["cp", "-r", str(src), str(dst)], check=True))
    out["hash_all"] = timed(lambda: hash_all(src))
    paths = WorkspacePaths(base / f"ws-{index}")
    info = {}
    out["first_snapshot"] = timed(lambda: info.update(i=take_snapshot(paths, src, limits)))
    assert not info["i"].reused and info["i"].files > 0
    sid = info["i"].id
    out["first_materialize"] = timed(lambda: materialize(paths, sid, paths.run_dir("r1")))
    out["first_total"] = out["first_snapshot"] + out["first_materialize"]
    warm = []
    for _ in range(5):
        warm.append(timed(lambda: info.update(i=take_snapshot(paths, src, limits))))
        assert info["i"].reused and info["i"].id == sid
    out["warm_snapshot"] = statistics.median(warm)

    def warm_and_materialize() -> None:
        materialize(paths, take_snapshot(paths, src, limits).id, paths.run_dir("r2"))

    out["warm_plus_materialize"] = timed(warm_and_materialize)
    return out


#: How the runs' working copies were made: ``link`` or ``copy``.
WORKING_COPY = ["?"]
#: The ``working_copy`` setting the whole-submit rounds ask for.
WORKING_COPY_MODE = ["copy"]
#: Pooled working copies left after the whole-submit rounds.
POOL_ENTRIES = [0]


def whole_submit(base: Path, src: Path, rounds: int) -> list[dict[str, float]]:
    """Time ``rounds`` warm submits of ``src`` to their end, each next to a ``cp -r``."""
    from runner import Experiment, ScriptRunConfig, Workspace

    try:
        from runner.snapshot.workcopy import blobs_are_protected
    except ImportError:  # a runner from before linked working copies: always copies
        def blobs_are_protected(paths: object) -> bool:
            return False

    (src / "hello.py").write_text("print('hello')\n")
    old = time.time() - 3600
    os.utime(src / "hello.py", (old, old))
    ws = Workspace.create(base / "ws-submit")
    ws.paths.config.write_text("snapshot_max_files: 10000\nsnapshot_max_bytes: 1073741824\n"
                               f"working_copy: {WORKING_COPY_MODE[0]}\n")
    ws = Workspace.get(ws.root)
    exp = Experiment(ws, "bench")
    config = ScriptRunConfig(str(src), "hello.py")
    WORKING_COPY[0] = "link" if WORKING_COPY_MODE[0] == "link" and \
        blobs_are_protected(ws.paths) else "copy"
    assert exp.submit(config).wait_for_completion()["status"] == "Completed"  # cold
    out = []
    for i in range(rounds):
        row: dict[str, float] = {}
        dst = base / f"cp-submit-{i}"
        cp = ["cp", "-r", str(src), str(dst)]
        row["cp_r"] = timed(lambda cp=cp: subprocess.run(cp, check=True))

        def submit() -> None:
            details = exp.submit(config).wait_for_completion()
            assert details["status"] == "Completed", details

        row["submit"] = timed(submit)
        out.append(row)
    pool = ws.paths.runner_dir / "workcopies"
    POOL_ENTRIES[0] = len([n for n in os.listdir(pool) if not n.startswith(".")]) \
        if pool.is_dir() else 0
    return out


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".", help="where to put the temp tree and workspace")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submit", type=int, default=3, help="whole-submit rounds (0: none)")
    parser.add_argument("--link", action="store_true",
                        help="whole submits with working_copy: link (default: the "
                             "default copies, with the pool)")
    args = parser.parse_args()
    if args.link:
        WORKING_COPY_MODE[0] = "link"
    limits = SnapshotLimits(max_bytes=1024**3, max_files=10_000)
    base = Path(tempfile.mkdtemp(prefix="bench-snapshot-", dir=args.dir)).resolve()
    try:
        src = base / "src"
        build_tree(src, args.files, args.mb * 1024 * 1024)
        rounds = [one_round(base, src, limits, i) for i in range(args.rounds)]
        submits = whole_submit(base, src, args.submit) if args.submit else []
    finally:
        shutil.rmtree(base, ignore_errors=True)
    median = {k: round(statistics.median(r[k] for r in rounds), 4) for k in rounds[0]}
    cp = median["cp_r"]
    result = {
        "files": args.files,
        "megabytes": args.mb,
        "rounds": args.rounds,
        "platform": f"{platform.system()} {platform.release()}",
        "workers": _snapshot_copy.WORKERS,
        "reflink_worked": _snapshot_copy._CAN["reflink"],
        "seconds": median,
        "ratio_to_cp_r": {
            "first_snapshot_plus_materialize": round(median["first_total"] / cp, 3),
            "warm_snapshot": round(median["warm_snapshot"] / cp, 3),
            "warm_snapshot_plus_materialize": round(median["warm_plus_materialize"] / cp, 3),
            "hash_all": round(median["hash_all"] / cp, 3),
        },
        "targets": {"first_snapshot_plus_materialize": 2.0, "warm_snapshot": 0.05,
                    "warm_snapshot_plus_materialize": 1.0, "whole_submit": 1.0},
        "raw_rounds": [{k: round(v, 4) for k, v in r.items()} for r in rounds],
    }
    if submits:
        result["whole_submit"] = {
            "working_copy": WORKING_COPY[0],
            "pool_entries": POOL_ENTRIES[0],
            "cp_r_s": round(statistics.median(r["cp_r"] for r in submits), 4),
            "submit_s": round(statistics.median(r["submit"] for r in submits), 4),
            "ratio_to_cp_r": round(statistics.median(r["submit"] / r["cp_r"] for r in submits), 3),
            "raw_rounds": [{k: round(v, 4) for k, v in r.items()} for r in submits],
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
