"""Process identity (pid + exact start time) and ending trees: only checked processes are
signalled, with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from runner import Experiment
from runner.store import liveness as _liveness
from runner.store import proc as _proc

_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def _sleeper(session: bool = True) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "30"], start_new_session=session)


def _group_with_member() -> tuple[subprocess.Popen, float, psutil.Process]:
    """A group leader that starts a `sleep` in its own group, then exits; returns both."""
    code = ("import subprocess, sys\n"
            "p = subprocess.Popen(['sleep', '30'])\n"
            "print(p.pid, flush=True)\n"
            "sys.stdin.read()\n")
    leader = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    started = _proc.start_time(leader.pid)
    member = psutil.Process(int(leader.stdout.readline()))
    leader.stdin.close()
    leader.wait(10)
    leader.stdout.close()
    return leader, started, member


def test_start_time_is_exact_to_the_clock_tick():
    """A start time one tick off is another process; the same reading is this one."""
    proc = _sleeper()
    try:
        started = _proc.start_time(proc.pid)
        assert (True, False, False) == (
            _proc.is_alive(proc.pid, started),
            _proc.is_alive(proc.pid, started + _TICK),
            _proc.is_alive(proc.pid, started + 0.5),
        )
    finally:
        proc.kill()
        proc.wait()


def test_a_process_with_another_start_time_is_not_signalled():
    """end_tree of a pid whose recorded start differs signals neither it nor its group."""
    proc = _sleeper()
    try:
        started = _proc.start_time(proc.pid)
        signalled = _proc.end_tree(proc.pid, started - 3.0, grace=0.2)
        time.sleep(0.1)
        assert ([], None) == (signalled, proc.poll())
    finally:
        proc.kill()
        proc.wait()


def test_unknown_start_time_signals_nothing():
    """end_tree without a recorded start time never signals the bare pid or its group."""
    proc = _sleeper()
    try:
        assert ([], None) == (_proc.end_tree(proc.pid, None, grace=0.2), proc.poll())
    finally:
        proc.kill()
        proc.wait()


def test_the_checked_process_and_its_tree_are_ended():
    """end_tree of a process whose identity matches ends it."""
    proc = _sleeper()
    started = _proc.start_time(proc.pid)
    handle = psutil.Process(proc.pid)
    signalled = _proc.end_tree(proc.pid, started, grace=2.0)
    assert ([proc.pid], False) == (signalled, _alive(handle))
    proc.wait(5)


def test_a_group_member_that_outlives_its_leader_is_ended():
    """A member of the run's process group is ended after its leader exited."""
    _, started, member = _group_with_member()
    try:
        _proc.end_tree(_leader_pid(member), started, grace=2.0)
        assert not _alive(member)
    finally:
        _kill(member)


def test_a_member_older_than_the_recorded_leader_is_not_signalled():
    """With the leader gone, a group member that started before it is left alone."""
    _, _, member = _group_with_member()
    try:
        signalled = _proc.end_tree(_leader_pid(member), member.create_time() + 1.0, grace=0.2)
        assert ([], True) == (signalled, _alive(member))
    finally:
        _kill(member)


def test_a_reader_does_not_kill_a_stranger_at_the_recorded_script_pid(exp: Experiment):
    """A stale run whose script pid now belongs to another process leaves that process alive."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_start = _proc.start_time(dead.pid)
    dead.wait()
    stranger = _sleeper()
    try:
        stranger_start = _proc.start_time(stranger.pid)
        now = time.time()
        exp.workspace.store.insert_run(
            "stale_1", exp.name, type="script", status="Running", created=now,
            owner_pid=dead.pid, owner_start=dead_start,
            script_pid=stranger.pid, script_start=stranger_start - 2.0)
        row = _liveness.reconcile(exp.workspace.store, exp.workspace.store.get_run("stale_1"))
        time.sleep(0.1)
        assert ("Failed", None) == (row["status"], stranger.poll())
    finally:
        stranger.kill()
        stranger.wait()


def _leader_pid(member: psutil.Process) -> int:
    return os.getpgid(member.pid)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill(proc: psutil.Process) -> None:
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        pass
