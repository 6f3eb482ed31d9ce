"""The store under stress: values survive kills and exits, many processes write at once,
and the schema is versioned."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from runner import Experiment, Run, StoreError, Workspace
from runner.store.db import SCHEMA_VERSION

_OPEN_RUN = (
    "import sys, time\n"
    "from runner import Experiment, Run, Workspace\n"
    "exp = Experiment(Workspace(sys.argv[1]), 'test')\n"
    "run = exp.start_logging(snapshot_directory=None, outputs=False)\n"
    "print(run.id, flush=True)\n"
)


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


# ----------------------------------------------------------------- durability


def test_values_logged_over_a_second_before_sigkill_are_stored(ws: Workspace, exp: Experiment):
    """A process killed with SIGKILL loses at most what it logged in its last second."""
    code = _OPEN_RUN + (
        "i = 0\n"
        "while True:\n"
        "    run.log('t', time.time())\n"
        "    run.log('i', i)\n"
        "    i += 1\n"
        "    if i == 100:\n"
        "        print('logging', flush=True)\n"
        "    time.sleep(0.001)\n"
    )
    proc = _spawn(code, str(ws.root))
    run_id = proc.stdout.readline().strip()
    assert "logging" == proc.stdout.readline().strip()
    time.sleep(1.3)

    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    returncode, _, _ = _finish(proc)

    metrics = Run(exp, run_id).get_metrics()
    assert -signal.SIGKILL == returncode
    assert list(range(len(metrics["i"]))) == metrics["i"]
    assert sorted(metrics["t"]) == metrics["t"]
    assert killed_at - 1.0 <= metrics["t"][-1]


def test_values_are_flushed_at_interpreter_exit(ws: Workspace, exp: Experiment):
    """A script that logs and exits without flush() or complete() loses nothing,
    whichever of two handles on the run logged it."""
    code = _OPEN_RUN + (
        "other = Run(exp, run.id)\n"
        "for i in range(10000):\n"
        "    run.log('x', float(i))\n"
        "run.log_row('r', a=1)\n"
        "other.log('y', 2)\n"
    )

    returncode, out, err = _finish(_spawn(code, str(ws.root)))

    assert 0 == returncode, err
    metrics = Run(exp, out.strip()).get_metrics()
    assert ([float(i) for i in range(10000)], {"a": 1}, 2) == (
        metrics["x"], metrics["r"], metrics["y"])


def test_sigterm_flushes_and_fails_the_run(ws: Workspace, exp: Experiment):
    """SIGTERM writes what was logged, ends the interactive run Failed and still kills."""
    code = _OPEN_RUN + (
        "for i in range(5000):\n"
        "    run.log('x', float(i))\n"
        "print('logged', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = _spawn(code, str(ws.root))
    run_id = proc.stdout.readline().strip()
    assert "logged" == proc.stdout.readline().strip()

    proc.send_signal(signal.SIGTERM)
    returncode, _, err = _finish(proc)

    details = Run(exp, run_id).get_details()
    assert -signal.SIGTERM == returncode, err
    assert 5000 == len(Run(exp, run_id).get_metrics()["x"])
    assert ("Failed", "Terminated") == (details["status"], details["error"]["error"]["code"])
    assert "SIGTERM" in details["error"]["error"]["message"]


# ---------------------------------------------------------------- concurrency

_WRITER = (
    "import sys\n"
    "from runner import Experiment, Run, Workspace\n"
    "exp = Experiment(Workspace(sys.argv[1]), 'test')\n"
    "index = int(sys.argv[3])\n"
    "if sys.argv[2] == 'own':\n"
    "    run = exp.start_logging(run_id=f'own-{index}', snapshot_directory=None,\n"
    "                            outputs=False)\n"
    "else:\n"
    "    run = Run(exp, sys.argv[2])\n"
    "for i in range(20000):\n"
    "    value = index * 100000 + i\n"
    "    run.log('m', value if i % 10 == 0 else value + 0.5)\n"
    "    if i % 500 == 499:\n"
    "        run.flush()\n"
    "if sys.argv[2] == 'own':\n"
    "    run.complete()\n"
)


def _expected(index: int) -> list[float]:
    return [index * 100000 + i + (0 if i % 10 == 0 else 0.5) for i in range(20000)]


def test_many_processes_writing_at_once_lose_nothing(ws: Workspace, exp: Experiment):
    """6 processes with their own runs and 3 sharing one run write every value, in order."""
    shared = exp.start_logging(snapshot_directory=None, outputs=False)
    procs = [_spawn(_WRITER, str(ws.root), "own", str(i)) for i in range(6)]
    procs += [_spawn(_WRITER, str(ws.root), shared.id, str(i)) for i in range(6, 9)]

    results = [_finish(p, timeout=120) for p in procs]

    assert [0] * 9 == [code for code, _, _ in results], [err for _, _, err in results]
    assert not any("locked" in err or "Traceback" in err for _, _, err in results)
    for i in range(6):
        run = Run(exp, f"own-{i}")
        assert ("Completed", _expected(i)) == (run.get_status(), run.get_metrics()["m"])
    values = shared.get_metrics()["m"]
    assert 60000 == len(values)
    for i in range(6, 9):
        assert _expected(i) == [v for v in values if i * 100000 <= v < (i + 1) * 100000]
    shared.complete()


def test_handles_logging_one_metric_in_one_process_keep_each_order(exp: Experiment):
    """Two handles on one run logging the same name both keep their values and order."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    other = Run(exp, run.id)
    for i in range(3000):
        run.log("m", float(i))
        other.log("m", float(-i - 1))
        if i % 700 == 0:
            other.flush()

    values = Run(exp, run.id).get_metrics()["m"]

    assert [float(i) for i in range(3000)] == [v for v in values if v >= 0]
    assert [float(-i - 1) for i in range(3000)] == [v for v in values if v < 0]
    run.complete()


def test_a_kind_taken_elsewhere_keeps_the_first_and_other_metrics_are_written(
    exp: Experiment,
):
    """A name stored as a table drops scalar values from another handle; the rest is kept."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log_row("r", x=1)
    run.flush()
    other = Run(exp, run.id)
    other.log("r", 2.0)
    other.log("ok", 3.0)

    other.flush()

    assert {"r": {"x": 1}, "ok": 3.0} == Run(exp, run.id).get_metrics()
    run.complete()


# --------------------------------------------------------------------- schema


def test_store_uses_wal_and_the_current_schema_version(ws: Workspace):
    """The database is in WAL mode and its user_version is SCHEMA_VERSION."""
    conn = sqlite3.connect(ws.paths.db)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()

    assert ("wal", SCHEMA_VERSION) == (mode, version)


def test_a_newer_schema_is_refused(ws: Workspace):
    """A store written by a newer runner raises StoreError asking for an upgrade."""
    conn = sqlite3.connect(ws.paths.db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(StoreError, match="upgrade runner"):
        Experiment(Workspace(ws.root), "x")


def test_a_corrupt_store_is_a_store_failure(ws: Workspace):
    """A database file that is not SQLite raises StoreError naming it."""
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(ws.paths.db) + suffix):
            os.unlink(str(ws.paths.db) + suffix)
    ws.paths.db.write_bytes(b"this is not a database" * 100)

    with pytest.raises(StoreError, match=r"runner\.db"):
        Experiment(Workspace(ws.root), "x")


def test_a_new_store_is_created_on_first_use(ws: Workspace):
    """A workspace whose database was removed gets a new empty one."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(ws.paths.db) + suffix):
            os.unlink(str(ws.paths.db) + suffix)

    assert ["fresh"] == [e.name for e in (Experiment(Workspace(ws.root), "fresh"),)]
    assert ws.paths.db.is_file()


def test_runs_on_a_cluster_do_not_take_local_slots(ws):
    """A running run on a compute target leaves max_concurrent_runs to local runs."""
    import time

    from runner.core.status import PREPARING, QUEUED, RUNNING, RunStatus

    now = time.time()
    ws.store.insert_run("remote", "e", type="script", status=RUNNING, created=now,
                        definition={"target": "ray"})
    ws.store.insert_run("local", "e", type="script", status=QUEUED, created=now + 1,
                        definition={"target": "local"})
    assert ws.store.claim_slot("local", 1, tuple(RunStatus.ACTIVE), QUEUED, PREPARING)
    assert PREPARING == ws.store.get_run("local")["status"]


def test_a_slot_is_claimed_only_below_the_limit_and_oldest_queued_first(ws):
    """With max 2 and one run active, the oldest queued run gets the slot (and is moved);
    a younger one waits for it, and nothing is claimed once the limit is reached."""
    from runner.core.status import PREPARING, QUEUED, RUNNING, RunStatus

    active = tuple(RunStatus.ACTIVE)
    now = time.time()
    ws.store.insert_run("busy", "e", type="script", status=RUNNING, created=now)
    ws.store.insert_run("old", "e", type="script", status=QUEUED, created=now + 1)
    ws.store.insert_run("young", "e", type="script", status=QUEUED, created=now + 2)

    young_first = ws.store.claim_slot("young", 2, active, QUEUED, PREPARING)
    old = ws.store.claim_slot("old", 2, active, QUEUED, PREPARING)
    young_at_limit = ws.store.claim_slot("young", 2, active, QUEUED, PREPARING)
    old_again = ws.store.claim_slot("old", 2, active, QUEUED, PREPARING)

    assert (False, True, False, False) == (young_first, old, young_at_limit, old_again)
    assert (PREPARING, QUEUED) == (ws.store.get_run("old")["status"],
                                   ws.store.get_run("young")["status"])


def test_runs_created_in_the_same_instant_are_served_in_insertion_order(ws):
    """Two queued runs with one creation time: the first inserted goes first."""
    from runner.core.status import PREPARING, QUEUED, RunStatus

    now = time.time()
    ws.store.insert_run("first", "e", type="script", status=QUEUED, created=now)
    ws.store.insert_run("second", "e", type="script", status=QUEUED, created=now)

    assert (False, True) == (
        ws.store.claim_slot("second", 1, tuple(RunStatus.ACTIVE), QUEUED, PREPARING),
        ws.store.claim_slot("first", 1, tuple(RunStatus.ACTIVE), QUEUED, PREPARING))


def test_experiments_count_runs_of_every_status_and_the_latest_activity(ws):
    """Runs of several statuses add up, and the last activity is the newest run's."""
    later = time.time() + 100  # after the experiment's own creation
    ws.store.insert_run("a", "e", type="run", status="Completed", created=later)
    ws.store.insert_run("b", "e", type="run", status="Failed", created=later + 20)
    ws.store.insert_run("c", "e", type="run", status="Completed", created=later + 10)

    (item,) = ws.store.experiments()

    assert (3, {"Completed": 2, "Failed": 1}, later + 20) == (
        item["runs"], item["statuses"], item["last_activity"])
