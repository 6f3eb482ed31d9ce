"""Many names: a drain is durable as one journal row at once, and moved into chunks in steps.

The durability promise (a SIGKILL loses at most about the last second) used to
fail with many names: a writer with 100,000 names needed seconds per write, and
a kill lost everything logged before it. These tests kill real writers with
SIGKILL between the journal write and the end of the move, and read what a
reader finds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from array import array
from pathlib import Path

import pytest

from runner import Experiment, Workspace
from runner.core.metrics import SCALAR, TABLE, Merged
from runner.store import metric_journal

ROOT = Path(__file__).resolve().parents[1]

# A writer that logs ``ROUNDS`` rounds over ``NAMES`` names, makes each round
# durable with one bounded background cycle (moving at most one step), then
# reports the journal rows it left and waits to be killed, its writer held still.
_WRITER = textwrap.dedent('''
    import sys, time
    from runner import Experiment, Workspace
    from runner.api import run_metrics
    from runner.inrun import flusher

    run_metrics.MOVE_SECONDS = 0.0  # one step per cycle: the kill finds rows unmoved
    root, names, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ws = Workspace(root)
    run = Experiment(ws, "journal").start_logging(snapshot_directory=None, outputs=False)
    for r in range(rounds):
        for j in range(names):
            run.log(f"m{j}", float(r))
        if r == 1:
            run.log("mixed", 7)               # an int, through the slow path
            run.log("stepped", 1.5, step=10)  # a value with a step
            run.log_row("table", a=r, b="x")
        run.log("mixed", 0.25)
        flusher.flush_all(complete=False)
    run._write_lock.acquire()  # the background writer moves nothing more
    pending = sum(ws.store.journal_counts(run.id).values())
    print(run.id, pending, flush=True)
    time.sleep(600)
''')


def _rounds(rounds: int, names: int, move_seconds: float | None = None) -> str:
    """A script's start: an interactive run in the workspace ``sys.argv[1]``, ``rounds``
    rounds over ``names`` names, each made durable by one bounded background cycle."""
    knob = f"run_metrics.MOVE_SECONDS = {move_seconds}\n" if move_seconds is not None else ""
    return textwrap.dedent(f'''
        import sys
        from runner import Experiment, Workspace
        from runner.api import run_metrics
        from runner.inrun import flusher
        {knob}
        ws = Workspace(sys.argv[1])
        run = Experiment(ws, "journal").start_logging(snapshot_directory=None, outputs=False)
        for r in range({rounds}):
            for j in range({names}):
                run.log(f"m{{j}}", float(r))
            flusher.flush_all(complete=False)
    ''')


def _start_writer(ws: Workspace, names: int, rounds: int) -> tuple[subprocess.Popen, str, int]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(ws.root), str(names),
                             str(rounds)], stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline().split()
    assert line, "the writer ended before reporting"
    return proc, line[0], int(line[1])


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_a_writer_killed_before_moving_its_journal_loses_nothing(ws: Workspace):
    """SIGKILL after the journal write: the first reader moves the rows; every value is there."""
    proc, run_id, pending = _start_writer(ws, names=6000, rounds=3)
    try:
        assert pending > 0  # the kill comes before the move is done
    finally:
        _kill(proc)
    metrics = Workspace(ws.root).get_run(run_id).get_metrics()
    assert 6003 == len(metrics)
    assert [0.0, 1.0, 2.0] == metrics["m0"] == metrics["m5999"]
    assert [0.25, 7, 0.25, 0.25] == metrics["mixed"]
    assert 1.5 == metrics["stepped"]
    assert {"a": 1, "b": "x"} == metrics["table"]
    assert ({}, []) == (ws.store.journal_counts(run_id), ws.store.read(
        "SELECT id FROM metric_journal WHERE run_id = ?", (run_id,)))


def test_a_reader_leaves_a_live_writers_journal_rows_to_it(ws: Workspace):
    """While the writer runs, a reader counts its journal rows as stored and does not move them."""
    proc, run_id, pending = _start_writer(ws, names=6000, rounds=2)
    try:
        ws.store.settle_journal([run_id])
        counts = ws.store.journal_counts(run_id)
        chunked = ws.store.read("SELECT COALESCE(SUM(count), 0) FROM metrics "
                                "WHERE run_id = ?", (run_id,))[0][0]
    finally:
        _kill(proc)
    assert pending == sum(counts.values()) > 0
    assert 2 * 6000 + 5 == chunked + pending  # every value, in chunks or in the journal


def test_a_clean_exit_moves_every_row(ws: Workspace, tmp_path: Path):
    """A writer that exits normally leaves no journal row: atexit moves everything."""
    script = tmp_path / "many.py"
    script.write_text(_rounds(2, 3000) + "print(run.id)\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, str(script), str(ws.root)], capture_output=True,
                         text=True, env=env, check=True)
    run_id = out.stdout.strip()
    assert [] == ws.store.read("SELECT id FROM metric_journal")
    rows = ws.store.read("SELECT COUNT(*), SUM(count) FROM metrics WHERE run_id = ?", (run_id,))
    assert [(3000, 6000)] == rows


def test_a_row_moved_by_another_process_is_not_moved_twice(exp: Experiment):
    """move_journal with a stale ``done`` writes nothing and says so (-1)."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    store = exp.workspace.store
    drained = [(f"m{i}", SCALAR, [], None, array("d", [float(i)])) for i in range(3)]
    row = store.journal_metrics(run.id, drained)
    other = Workspace(exp.workspace.root).store
    assert 3 == other.move_journal(run.id, row, drained, 0)
    assert -1 == store.move_journal(run.id, row, drained, 0)
    run.complete()
    assert {"m0": 0.0, "m1": 1.0, "m2": 2.0} == run.get_metrics()


def test_journal_rows_round_trip_every_kind_of_entry():
    """encode/decode keep names, kinds, values, steps and trailing floats."""
    drained = [
        ("f", SCALAR, [], None, array("d", [1.0, float("nan")])),
        ("v", SCALAR, [1, "s", None, 2**70], [None, 3, None, None], array("d", [2.5])),
        ("t", TABLE, [{"a": 1}], None, None),
        ("g", SCALAR, [float("inf")], None, None),
    ]
    back = metric_journal.decode(*metric_journal.encode(drained))
    assert [e[:4] for e in drained[2:]] == [e[:4] for e in back[2:]]
    assert back[3][4] is None and back[2][4] is None
    assert [1.0] == back[0][4].tolist()[:1] and back[0][4][1] != back[0][4][1]
    assert ([1, "s", None, 2**70], [None, 3, None, None], [2.5]) == (
        back[1][2], back[1][3], back[1][4].tolist())


@pytest.mark.parametrize("parts, expected", [
    # floats, then floats: one trailing array
    ([[("m", SCALAR, [], None, array("d", [1.0]))], [("m", SCALAR, [], None, array("d", [2.0]))]],
     ([], None, [1.0, 2.0])),
    # floats, then a value with a step: the floats become values, steps line up
    ([[("m", SCALAR, [], None, array("d", [1.0]))], [("m", SCALAR, [5], [9], array("d", [2.0]))]],
     ([1.0, 5], [None, 9], [2.0])),
    # a stepped value, then plain values: steps padded with None
    ([[("m", SCALAR, [5], [9], None)], [("m", SCALAR, [6], None, None)]],
     ([5, 6], [9, None], None)),
])
def test_merged_drains_keep_each_names_values_in_order(parts, expected):
    """Merging drains concatenates each name's values in order, steps and floats aligned."""
    merged = Merged()
    for part in parts:
        merged.add(part)
    ((_name, _kind, values, steps, floats),) = merged.drained()
    assert expected == (values, steps, floats.tolist() if floats is not None else None)


def test_a_logging_call_waits_for_a_writer_that_got_no_turn(exp: Experiment, monkeypatch):
    """When the writer's last cycle is older than LATE, a logging call waits for a cycle.

    A thread that makes short blocking calls (os.write) in a tight loop takes
    the GIL back before the writer thread wakes, and can starve it for seconds.
    Here the writer sleeps (a long INTERVAL) and its last cycle looks old, as if
    starved: the 4,096th queued value makes the call wake it and wait, so every
    value logged so far is stored when the call returns.
    """
    from runner.inrun import flusher as _flusher

    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log("m", 0.0)
    monkeypatch.setattr(_flusher, "INTERVAL", 3600.0)
    with _flusher._cycle:  # one cycle, after which the writer sleeps for INTERVAL
        seen = _flusher._cycles
        _flusher._wake.set()
        _flusher._cycle.wait_for(lambda: _flusher._cycles != seen, 30)
    try:
        monkeypatch.setattr(_flusher, "_cycle_done", time.monotonic() - 60)
        seen = _flusher._cycles
        for i in range(1, 4097):
            run.log("m", float(i))
        cycles = _flusher._cycles - seen
        stored = exp.workspace.store.read(
            "SELECT count FROM metrics WHERE run_id = ?", (run.id,))
    finally:
        monkeypatch.undo()
        _flusher._wake.set()
    run.complete()
    assert (1, [(4097,)]) == (cycles, stored)


def test_a_forked_child_that_exits_normally_never_moves_its_parents_rows(ws: Workspace,
                                                                       tmp_path: Path):
    """The parent has journal rows to move when it forks; the child exits normally (its
    exit handlers run); every value is stored once."""
    script = tmp_path / "fork.py"
    script.write_text(_rounds(3, 3000, move_seconds=0.0) + textwrap.dedent('''
        import os
        with run._write_lock:  # no background cycle moves rows across the fork
            pid = os.fork()
        if pid == 0:
            run.log("child", 1.0)
            sys.exit(0)  # atexit and finalizers run here
        os.waitpid(pid, 0)
        run.complete()
        print(run.id)
    '''))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, str(script), str(ws.root)], capture_output=True,
                         text=True, env=env, check=True)
    metrics = Workspace(ws.root).get_run(out.stdout.strip()).get_metrics()
    assert (3001, [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], 1.0) == (
        len(metrics), metrics["m0"], metrics["m2999"], metrics["child"])


def test_the_reader_that_records_a_dead_owner_moves_its_journal_rows(ws: Workspace):
    """Reading the status of a run whose owner was killed ends it Failed with every
    journal row moved into metric chunks, before any metric is read."""
    proc, run_id, pending = _start_writer(ws, names=3000, rounds=2)
    _kill(proc)
    status = Workspace(ws.root).get_run(run_id).get_status()
    rows = ws.store.read("SELECT COUNT(*) FROM metric_journal")[0][0]
    stored = ws.store.read("SELECT SUM(count) FROM metrics WHERE run_id = ?", (run_id,))[0][0]
    assert pending > 0
    assert ("Failed", 0, 2 * 3000 + 5) == (status, rows, stored)
