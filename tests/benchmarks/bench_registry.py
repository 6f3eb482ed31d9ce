"""Benchmark of the registry: registering models and datasets, and versions under
contention (run by hand; not collected by pytest).

Usage::

    python tests/benchmarks/bench_registry.py [--dir DIR] [--mb 50] [--files 500]
                                              [--procs 4] [--each 25]

In a temp workspace under ``--dir`` (default: the current directory) it times:
registering a ``--mb`` MB model file (first time: read, hash, store), registering
the same bytes again (the content is stored once: bytes added to the content store
are reported), registering a folder of ``--files`` small CSVs as a dataset, and
registering it again unchanged (returns the same version), then ``--procs``
processes registering one model name ``--each`` times each (registrations per
second; the versions must come out 1..N, each once). Prints one JSON object.
File times are set an hour back, as in ``bench_snapshot.py``.

Target: a re-registration of unchanged bytes costs no content-store bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REGISTER = """
import sys
from runner import Model, Workspace
ws = Workspace(sys.argv[1])
for _ in range(int(sys.argv[3])):
    print(Model.register(ws, sys.argv[2], "contended").version, flush=True)
"""


def _store_bytes(ws) -> int:
    return sum(p.stat().st_size for p in ws.paths.blobs.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".")
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--each", type=int, default=25)
    args = parser.parse_args()

    from runner import Dataset, Model, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=args.dir))
    try:
        ws = Workspace.create(root / "ws")
        model_file = root / "model.bin"
        model_file.write_bytes(os.urandom(args.mb * 1024 * 1024))
        csvs = root / "csvs"
        csvs.mkdir()
        for i in range(args.files):
            (csvs / f"part-{i:05d}.csv").write_text(
                "x,y\n" + "".join(f"{i},{j}\n" for j in range(50)))
        # An hour old, as real files are: the stat cache ignores files just written.
        old = time.time() - 3600
        for path in [model_file, *csvs.iterdir()]:
            os.utime(path, (old, old))
        result: dict = {"model_mb": args.mb, "dataset_files": args.files}

        t = time.perf_counter()
        Model.register(ws, model_file, "big")
        result["model_first_s"] = round(time.perf_counter() - t, 4)
        before = _store_bytes(ws)
        t = time.perf_counter()
        Model.register(ws, model_file, "big")
        result["model_again_s"] = round(time.perf_counter() - t, 4)
        result["model_again_store_bytes_added"] = _store_bytes(ws) - before

        t = time.perf_counter()
        first = Dataset.File.from_files(str(csvs)).register(ws, "csvs")
        result["dataset_first_s"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        again = Dataset.File.from_files(str(csvs)).register(ws, "csvs")
        result["dataset_again_s"] = round(time.perf_counter() - t, 4)
        result["dataset_again_same_version"] = first.version == again.version

        small = root / "small.bin"
        small.write_bytes(b"weights")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", _REGISTER, str(ws.root), str(small),
                                   str(args.each)], stdout=subprocess.PIPE, text=True, env=env)
                 for _ in range(args.procs)]
        outs = [p.communicate()[0] for p in procs]
        elapsed = time.perf_counter() - t
        versions = sorted(int(v) for out in outs for v in out.split())
        total = args.procs * args.each
        result["contended_registrations"] = total
        result["contended_s"] = round(elapsed, 3)
        result["contended_per_s"] = round(total / elapsed, 1)
        result["contended_versions_consecutive"] = versions == list(range(1, total + 1))
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
