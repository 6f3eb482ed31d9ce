"""Shared fixtures, and guards that fail any test leaking state.

A test must leave the environment variables, the current folder and the set of
child processes as it found them; use ``monkeypatch`` for the first two. In CI
(``CI=true``) a skip is a failure (:mod:`ci_skips`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest
from ci_skips import (  # noqa: F401 - hooks, found by name
    pytest_configure,
    pytest_make_collect_report,
    pytest_runtest_makereport,
)

from runner import Experiment, Workspace
from runner.inrun import context as _context

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


def make_wheel(folder: Path, name: str, module: str, requires: tuple[str, ...] = (),
               scripts: dict[str, str] | None = None) -> Path:
    """Write a pure-Python wheel by hand (no build tools, no network)."""
    dist = f"{name}-1.0"
    meta = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}.py": module,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{meta}",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    if scripts:
        files[f"{dist}.dist-info/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local wheel folder: two tiny made-up packages (one with a console script) and six.

    Without the network to download six, the tests that need it skip (fail in CI).
    """
    folder = tmp_path_factory.mktemp("wheelhouse")
    make_wheel(folder, "rt_dep", "VALUE = 42\n")
    make_wheel(folder, "rt_hello", "import sys\nimport rt_dep\n\ndef main():\n"
               "    print('hello', rt_dep.VALUE, sys.prefix)\n",
               requires=("rt_dep",), scripts={"rt-hello": "rt_hello:main"})
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                           str(folder), "six==1.16.0"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot download six into a wheelhouse: {proc.stderr[-300:]}")
    return folder


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A new, empty workspace in its own temporary folder."""
    return Workspace.create(tmp_path / "ws")


@pytest.fixture
def exp(ws: Workspace) -> Experiment:
    """An experiment named ``test`` in a new workspace."""
    return Experiment(ws, "test")


@pytest.fixture
def script_run(ws: Workspace, exp: Experiment):
    """Makes Running 'script' runs of ``exp`` owned by this process, as a launcher would;
    call it for a new run id."""
    from runner.store import proc as _proc

    def make() -> str:
        run_id = f"test_{int(time.time())}_{os.urandom(4).hex()}"
        pid, started = _proc.identity()
        now = time.time()
        ws.store.insert_run(run_id, exp.name, type="script", status="Running", created=now,
                            start_time=now, owner_pid=pid, owner_start=started)
        ws.paths.run_dir(run_id).mkdir(parents=True)
        return run_id

    return make


@pytest.fixture
def python() -> str:
    """The interpreter running the tests."""
    return sys.executable


@pytest.fixture
def fake_conda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``micromamba`` stand-in first on PATH: it records its arguments in the file
    returned and makes a virtualenv at ``--prefix``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bindir / "micromamba"
    fake.write_text(f"#!{sys.executable}\nimport subprocess, sys\n"
                    f"open({str(calls)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
                    "prefix = sys.argv[sys.argv.index('--prefix') + 1]\n"
                    f"subprocess.run([{sys.executable!r}, '-m', 'virtualenv', '-q', "
                    "'--no-periodic-update', prefix], check=True)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return calls
