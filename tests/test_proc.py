"""Process identity (pid + start time) and ending process trees, against real processes:
a process with another start time, a zombie, a reused pid, a group that outlives its
leader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runner import Experiment, Workspace
from runner.store import liveness
from runner.store import proc as _proc

ROOT = Path(__file__).resolve().parent.parent
SLEEP = shutil.which("sleep") or "sleep"


def _gone(pid: int, started: float) -> bool:
    """True when the process ``pid`` of ``started`` no longer runs (gone or a zombie),
    judged by psutil rather than the code under test."""
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - started) > 1 or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _end_both(leader: subprocess.Popen, member: psutil.Process) -> None:
    """Cleanup: kill and reap the leader, and kill the member if it still runs."""
    leader.kill()
    leader.wait()
    if not _gone(member.pid, member.create_time()):
        member.kill()


def _wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A `sleep 30` child leading a process group of its own; killed afterwards."""
    child = subprocess.Popen([SLEEP, "30"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def test_a_live_process_is_alive_by_its_pid_and_start_time(sleeper: subprocess.Popen):
    """The recorded (pid, start time) of a running process says alive, and so does no time."""
    started = _proc.start_time(sleeper.pid)

    assert started is not None
    assert abs(psutil.Process(sleeper.pid).create_time() - started) < 0.05
    assert _proc.is_alive(sleeper.pid, started)
    assert _proc.is_alive(sleeper.pid, None)


@pytest.mark.parametrize("shift", [-30.0, -2.0, 2.0, 3600.0])
def test_a_live_process_with_another_start_time_is_not_alive(sleeper: subprocess.Popen,
                                                              shift: float):
    """A running process whose start time differs from the recorded one is another process."""
    started = _proc.start_time(sleeper.pid)

    assert not _proc.is_alive(sleeper.pid, started + shift)


def test_a_process_that_ended_is_not_alive():
    """Once a process has exited and been reaped, its identity is not alive."""
    child = subprocess.Popen([SLEEP, "30"])
    started = _proc.start_time(child.pid)
    child.kill()
    child.wait()

    assert _proc.start_time(child.pid) is None
    assert not _proc.is_alive(child.pid, started)
    assert not _proc.is_alive(child.pid, None)


def test_a_zombie_is_not_alive():
    """A child that exited and is not reaped yet (a zombie) counts as not alive."""
    true = shutil.which("true") or "/bin/true"
    pid = os.posix_spawn(true, [true], dict(os.environ))
    try:
        assert _wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
        started = _proc.start_time(pid)

        assert started is not None  # still in the process table, with its start time
        assert not _proc.is_alive(pid, started)
        assert not _proc.is_alive(pid, None)
    finally:
        os.waitpid(pid, 0)


def test_end_tree_never_signals_a_process_whose_start_time_differs(sleeper: subprocess.Popen):
    """A live process (and group leader) that is not the recorded one is left untouched."""
    started = _proc.start_time(sleeper.pid)

    signalled = _proc.end_tree(sleeper.pid, started - 60, grace=0.2)
    time.sleep(0.1)

    assert [] == signalled
    assert sleeper.poll() is None


def _leader(exit_at_once: bool) -> tuple[subprocess.Popen, psutil.Process]:
    """A process-group leader with a `sleep 30` member; the leader exits at once or sleeps."""
    code = (f"import subprocess, sys, time; p = subprocess.Popen([{SLEEP!r}, '30']); "
            "print(p.pid, flush=True); "
            + ("" if exit_at_once else "time.sleep(30)"))
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              start_new_session=True, text=True)
    member = psutil.Process(int(leader.stdout.readline()))
    leader.stdout.close()
    return leader, member


def test_end_tree_ends_the_process_and_its_descendants():
    """A leader and its child both end, and both pids are reported."""
    leader, member = _leader(exit_at_once=False)
    started = _proc.start_time(leader.pid)
    try:
        signalled = _proc.end_tree(leader.pid, started, grace=0.5)

        assert {leader.pid, member.pid} == set(signalled)
        assert leader.wait(timeout=3) is not None
        assert _wait_until(lambda: _gone(member.pid, member.create_time()))
    finally:
        _end_both(leader, member)


def test_a_group_member_that_outlives_its_leader_is_ended():
    """When the leader is gone (exited and reaped), the rest of its group still ends."""
    leader, member = _leader(exit_at_once=True)
    started = _proc.start_time(leader.pid)
    leader.wait()
    try:
        assert member.is_running() and member.status() != psutil.STATUS_ZOMBIE

        _proc.end_tree(leader.pid, started, grace=0.5)

        assert _wait_until(lambda: _gone(member.pid, member.create_time()))
    finally:
        if not _gone(member.pid, member.create_time()):
            member.kill()


# ------------------------------------------------------------------ a reused pid, for real

REUSE = """
import json, subprocess, sys, time
from runner.store import proc

def spawn_at(pid):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:  # the next pid of this namespace
        f.write(str(pid - 1))
    return subprocess.Popen([sys.argv[1], "30"], start_new_session=True)

first = spawn_at(300)
started = proc.start_time(first.pid)
first.kill()
first.wait()
time.sleep(proc._TOLERANCE + 0.2)
second = spawn_at(300)
try:
    result = {"pids": [first.pid, second.pid], "alive": proc.is_alive(300, started),
              "signalled": proc.end_tree(300, started, grace=0.2)}
    time.sleep(0.1)
    result["second_running"] = second.poll() is None
finally:
    second.kill()
    second.wait()
print(json.dumps(result))
"""


def _unshare() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("a new pid namespace needs root and unshare(1)")
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a pid namespace here: {probe.stderr.strip()}")
    return [unshare, "--pid", "--fork", "--mount-proc"]


@pytest.mark.ci_may_skip("a container may forbid new pid namespaces")
def test_a_reused_pid_is_another_process_and_is_not_signalled():
    """In a pid namespace of its own, a second process gets the first one's pid: the first
    one's identity is not alive, and ending it leaves the second one running."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([*_unshare(), sys.executable, "-c", REUSE, SLEEP],
                          capture_output=True, text=True, env=env, timeout=30)

    assert 0 == done.returncode, done.stderr
    result = json.loads(done.stdout)
    assert {"pids": [300, 300], "alive": False, "signalled": [], "second_running": True} == (
        result)


# ------------------------------------------------------------------ readers of the record


def test_a_run_whose_owner_pid_belongs_to_another_process_is_failed(
        ws: Workspace, exp: Experiment, sleeper: subprocess.Popen):
    """A run's owner pid now held by a process of another start time: the run is Failed,
    and its script pid, held by another live process too, is not signalled."""
    other = subprocess.Popen([SLEEP, "30"], start_new_session=True)
    try:
        owner_start = _proc.start_time(sleeper.pid)
        script_start = _proc.start_time(other.pid)
        now = time.time()
        ws.store.insert_run("reused_1", exp.name, type="script", status="Running",
                            created=now, start_time=now, owner_pid=sleeper.pid,
                            owner_start=owner_start - 100, script_pid=other.pid,
                            script_start=script_start - 100)

        row = liveness.reconcile(ws.store, ws.store.get_run("reused_1"))
        time.sleep(0.1)

        assert "Failed" == row["status"]
        assert "OwnerDied" == row["error"]["error"]["code"]
        assert (None, None) == (sleeper.poll(), other.poll())
    finally:
        other.kill()
        other.wait()


def test_a_run_whose_owner_is_a_zombie_is_failed(ws: Workspace, exp: Experiment):
    """A run whose owner exited but is not reaped yet is Failed by the first reader."""
    true = shutil.which("true") or "/bin/true"
    pid = os.posix_spawn(true, [true], dict(os.environ))
    try:
        assert _wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
        now = time.time()
        ws.store.insert_run("zombie_1", exp.name, type="run", status="Running", created=now,
                            start_time=now, owner_pid=pid, owner_start=_proc.start_time(pid))

        row = liveness.reconcile(ws.store, ws.store.get_run("zombie_1"))

        assert "Failed" == row["status"]
    finally:
        os.waitpid(pid, 0)


def test_a_descendant_in_another_session_that_ignores_sigterm_is_killed():
    """A child that left the group (its own session) and ignores SIGTERM still ends:
    it is found through the tree and gets SIGKILL after the grace period."""
    code = ("import signal, subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print(1, flush=True); time.sleep(30)'], start_new_session=True, "
            "stdout=subprocess.PIPE); p.stdout.readline(); print(p.pid, flush=True); "
            "time.sleep(30)")
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              start_new_session=True, text=True)
    member = psutil.Process(int(leader.stdout.readline()))
    leader.stdout.close()
    try:
        _proc.end_tree(leader.pid, _proc.start_time(leader.pid), grace=0.3)

        assert _wait_until(lambda: _gone(member.pid, member.create_time()))
    finally:
        _end_both(leader, member)
