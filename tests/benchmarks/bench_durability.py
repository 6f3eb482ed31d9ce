"""Benchmark: how much a SIGKILL loses, under the loads that used to break the promise.

Run by hand (pytest does not collect it)::

    python tests/benchmarks/bench_durability.py [--seconds 4] [--repeat 2] [--case NAME]

Each case runs a real logging process against a real workspace, kills it with
SIGKILL after ``--seconds``, and measures the loss window: how long before the
kill the last stored value had been logged. The logger stamps ``(values logged,
time)`` into a shared memory map every few thousand calls (no system call, so the
stamps do not change the load); after the kill, the stored count of each metric
is looked up in the stamps. CLOCK_MONOTONIC is shared by both processes. What is
stored is what a reader finds: metric chunks, plus the journal rows of a writer with
many names (moved into chunks by the first reader once the writer is gone).

Cases:

- ``one_name``: one thread logging one float metric as fast as it can;
- ``100k_names``: one thread logging round-robin over 100,000 metric names; it also
  writes its exact count after every call, so a logger that backpressure holds
  inside a call (no stamp for a while, nothing lost) is not counted as a window;
- ``two_threads``: two threads, each logging its own name as fast as it can;
- ``cpu_bound_main``: 100,000 names logged once, then the main thread spins in
  pure Python; the window is how long after the last call the store held all
  of them (polled from this process while the logger runs);
- ``short_writes``: one name, with a short ``os.write`` every 1,000 calls.

Prints one JSON object: per case, the worst window over ``--repeat`` tries, the
values logged and stored. Target: every window about 1 s or less.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLOTS = 1 << 16
_STAMP = struct.Struct("dd")

_CHILD = textwrap.dedent('''
    import mmap, os, struct, sys, threading, time
    from runner import Experiment, Workspace

    root, case, stamps_path = sys.argv[1], sys.argv[2], sys.argv[3]
    SLOTS = 1 << 16
    STAMP = struct.Struct("dd")
    fd = os.open(stamps_path, os.O_RDWR)
    maps = mmap.mmap(fd, 0)
    ws = Workspace(root)
    run = Experiment(ws, "durability").start_logging(snapshot_directory=None, outputs=False)
    print(run.id, flush=True)
    log = run.log
    now = time.monotonic

    def stamper(lane):
        base = lane * SLOTS // 4 * STAMP.size
        state = [0]
        def stamp(count):
            i = state[0] % (SLOTS // 4)
            STAMP.pack_into(maps, base + i * STAMP.size, float(count), now())
            state[0] += 1
        return stamp

    def one_name(lane, name, write_every=0):
        stamp = stamper(lane)
        i = 0
        devnull = os.open(os.devnull, os.O_WRONLY)
        while True:
            for _ in range(5000):
                log(name, 0.5)
                i += 1
                if write_every and i % write_every == 0:
                    os.write(devnull, b"x")
            stamp(i)

    if case == "one_name":
        one_name(0, "m")
    elif case == "short_writes":
        one_name(0, "m", write_every=1000)
    elif case == "two_threads":
        for lane, name in ((1, "b"),):
            threading.Thread(target=one_name, args=(lane, name), daemon=True).start()
        one_name(0, "a")
    elif case == "100k_names":
        stamp = stamper(0)
        names = [f"m{j}" for j in range(100_000)]
        live = 3 * SLOTS // 4 * STAMP.size  # lane 3: the exact count, after every call
        pack = STAMP.pack_into
        i = 0
        while True:
            for name in names:
                log(name, 0.5)
                i += 1
                pack(maps, live, float(i), 0.0)
                if i % 5000 == 0:
                    stamp(i)
    elif case == "cpu_bound_main":
        stamp = stamper(0)
        for j in range(100_000):
            log(f"m{j}", 0.5)
        stamp(100_000)
        x = 0
        while True:
            x += 1
''')


def _window(stamps: list[tuple[float, float]], stored: int, killed: float) -> float:
    """Seconds before ``killed`` at which the logger had logged ``stored`` values."""
    reached = [t for count, t in stamps if count <= stored]
    if not reached:
        return killed - min(t for _, t in stamps) if stamps else float("nan")
    return max(0.0, killed - max(reached))


def _read_stamps(maps: mmap.mmap, lane: int) -> list[tuple[float, float]]:
    out = []
    base = lane * SLOTS // 4 * _STAMP.size
    for i in range(SLOTS // 4):
        count, t = _STAMP.unpack_from(maps, base + i * _STAMP.size)
        if t:
            out.append((count, t))
    return out


def _stored(ws, run_id: str) -> dict[str, int]:
    """Values stored per metric: in metric chunks, or in journal rows not yet moved.

    As any reader does first, the journal rows of a writer that is gone are moved
    into metric chunks; the rows of a live writer are counted where they are.
    """
    ws.store.settle_journal([run_id])
    rows = ws.store.read("SELECT name, count FROM metrics WHERE run_id = ? AND system = 0",
                         (run_id,))
    stored = dict(rows)
    for name, count in ws.store.journal_counts(run_id).items():
        stored[name] = stored.get(name, 0) + count
    return stored


def run_case(case: str, seconds: float, tmp: Path) -> dict:
    """One try of ``case``: start the logger, kill it, measure."""
    from runner import Workspace

    ws = Workspace.create(tmp / f"ws-{case}-{time.monotonic_ns()}")
    stamps_path = tmp / f"stamps-{case}"
    stamps_path.write_bytes(b"\0" * (SLOTS * _STAMP.size))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(ws.root), case, str(stamps_path)],
                            stdout=subprocess.PIPE, text=True, env=env)
    run_id = proc.stdout.readline().strip()
    fd = os.open(stamps_path, os.O_RDWR)
    maps = mmap.mmap(fd, 0)
    try:
        if case == "cpu_bound_main":
            return _cpu_bound(ws, run_id, proc, maps, seconds)
        time.sleep(seconds)
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = _stored(ws, run_id)
        lanes = {"a": 0, "b": 1} if case == "two_threads" else {None: 0}
        windows = []
        logged = 0
        exact = int(_STAMP.unpack_from(maps, 3 * SLOTS // 4 * _STAMP.size)[0])
        for name, lane in lanes.items():
            stamps = _read_stamps(maps, lane)
            count = sum(stored.values()) if name is None else stored.get(name, 0)
            if exact and count >= exact:
                windows.append(0.0)  # every value logged is stored (a blocked logger)
            else:
                windows.append(_window(stamps, count, killed))
            logged += int(max((c for c, _ in stamps), default=0))
        out = {"window_s": round(max(windows), 3), "logged_at_last_stamp": logged,
               "stored": sum(stored.values())}
        if exact:
            out["logged_at_kill"] = exact
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        maps.close()
        os.close(fd)


def _cpu_bound(ws, run_id: str, proc, maps, seconds: float) -> dict:
    deadline = time.monotonic() + seconds * 4
    logged_at = None
    held_at = None
    while time.monotonic() < deadline:
        stamps = _read_stamps(maps, 0)
        if stamps and logged_at is None:
            logged_at = stamps[0][1]
        if logged_at is not None and sum(_stored(ws, run_id).values()) >= 100_000:
            held_at = time.monotonic()
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = sum(_stored(ws, run_id).values())
    window = (held_at - logged_at) if held_at and logged_at else float("inf")
    return {"window_s": round(window, 3), "logged_at_last_stamp": 100_000, "stored": stored}


CASES = ("one_name", "100k_names", "two_threads", "cpu_bound_main", "short_writes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--case", choices=CASES, action="append")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runner-bench-durability-"))
    result: dict = {"benchmark": "loss window after SIGKILL", "seconds": args.seconds,
                    "target_window_s": 1.0, "cases": {}}
    try:
        for case in args.case or CASES:
            tries = [run_case(case, args.seconds, tmp) for _ in range(args.repeat)]
            worst = max(tries, key=lambda t: t["window_s"])
            result["cases"][case] = {**worst, "windows_s": [t["window_s"] for t in tries]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
