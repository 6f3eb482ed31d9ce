"""Shared fixtures, and guards that fail any test leaking state.

A test must leave the environment variables, the current folder and the set of
child processes as it found them; use ``monkeypatch`` for the first two.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from runner import Experiment, Workspace
from runner import _context

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_leaks():
    """Fail a test that leaves env vars, the cwd or child processes changed."""
    env = _environ()
    cwd = os.getcwd()
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    _context.reset()
    assert _environ() == env, "test leaked environment variables"
    assert os.getcwd() == cwd, "test changed the current folder"
    deadline = time.monotonic() + 5
    while True:
        left = [
            p for p in me.children(recursive=True)
            if p.pid not in before and _alive(p)
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for p in left:
        p.kill()
    assert not left, f"test left child processes behind: {[p.pid for p in left]}"


def _environ() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # pytest's own, changes between phases
    return env


def _alive(proc: psutil.Process) -> bool:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            try:
                os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return False
        return True
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A new, empty workspace in its own temporary folder."""
    return Workspace.create(tmp_path / "ws")


@pytest.fixture
def exp(ws: Workspace) -> Experiment:
    """An experiment named ``test`` in a new workspace."""
    return Experiment(ws, "test")


@pytest.fixture
def python() -> str:
    """The interpreter running the tests."""
    return sys.executable
