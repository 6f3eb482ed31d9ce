"""Every kind of error exits with the code the README documents, through the real
command line: each error is raised for real in a ``runner`` process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import Workspace
from runner.core import errors
from runner.store.db import no_connections_open

#: The README's promise: "2 bad input, 3 bad config.yaml, 4 not found, 5 snapshot,
#: 6 environment build, 7 run failed, 8 run canceled, 9 store".
DOCUMENTED = {
    errors.UsageError: 2, errors.ConfigError: 3, errors.NotFoundError: 4,
    errors.SnapshotError: 5, errors.EnvironmentBuildError: 6, errors.RunFailed: 7,
    errors.StoreError: 9,
}


def _runner(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m runner --traceback ARGS`` in ``cwd`` (no RUNNER_* variables of ours)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "PIP_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "runner", "--traceback", *args], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=60)


def _project(tmp_path: Path, config: str = "") -> Path:
    """A workspace folder with two small scripts and ``config`` appended to config.yaml."""
    folder = tmp_path / "project"
    ws = Workspace.create(folder)
    (folder / "hello.py").write_text("print('hello')\n")
    (folder / "boom.py").write_text("raise ValueError('boom')\n")
    if config:
        with open(ws.paths.config, "a", encoding="utf-8") as f:
            f.write(config)
    return folder


def _usage(tmp_path: Path):
    return _project(tmp_path), ("submit", "missing.py"), {}


def _config(tmp_path: Path):
    return _project(tmp_path, "snapshot_max_files: [1,\n"), ("runs",), {}


def _not_found(tmp_path: Path):
    return _project(tmp_path), ("show", "no_such_run"), {}


def _snapshot(tmp_path: Path):
    return _project(tmp_path, "snapshot_max_files: 1\n"), ("submit", "hello.py"), {}


def _environment_build(tmp_path: Path):
    folder = _project(tmp_path)
    (folder / "requirements.txt").write_text("rt-no-such-package==9\n")
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    return folder, ("env", "build", "requirements.txt"), {
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty)}


def _run_failed(tmp_path: Path):
    return _project(tmp_path), ("submit", "boom.py"), {}


def _store(tmp_path: Path):
    folder = _project(tmp_path)
    db = Workspace.get(folder).paths.db
    with no_connections_open():  # so that no checkpoint of ours rewrites the file
        for leftover in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            leftover.unlink(missing_ok=True)
        db.write_bytes(b"this is not an SQLite database\n" * 64)
    return folder, ("runs",), {}


CASES = {
    errors.UsageError: _usage, errors.ConfigError: _config, errors.NotFoundError: _not_found,
    errors.SnapshotError: _snapshot, errors.EnvironmentBuildError: _environment_build,
    errors.RunFailed: _run_failed, errors.StoreError: _store,
}


def test_every_documented_failure_kind_has_a_case():
    """Each error kind the README gives a code to is exercised below, with that code."""
    assert set(DOCUMENTED) == set(CASES)
    assert DOCUMENTED == {kind: kind.exit_code for kind in DOCUMENTED}


@pytest.mark.parametrize("kind", list(CASES),
                         ids=lambda kind: kind.__name__.removesuffix("Error").lower())
def test_each_failure_kind_exits_with_its_documented_code(tmp_path: Path, kind: type):
    """The command raises ``kind`` for real and exits with the README's code, one line."""
    cwd, args, env = CASES[kind](tmp_path)

    done = _runner(*args, cwd=cwd, **env)

    lines = done.stderr.splitlines()
    raised = [getattr(errors, line.split(":", 1)[0].rsplit(".", 1)[1]) for line in lines
              if line.startswith("runner.core.errors.")]
    assert DOCUMENTED[kind] == done.returncode, done.stderr
    assert 1 == len(raised) and issubclass(raised[0], kind), done.stderr
    assert 1 == sum(line.startswith("runner: error: ") for line in lines), done.stderr
