"""A run's working copy: hard links to read-only blobs where the mode protects them,
real copies where it does not (root); the stored snapshot never changes either way.

Each case runs in a subprocess, so that a root test run can also check the
ordinary user's path: the subprocess drops CAP_DAC_OVERRIDE (``setpriv``), which
is what makes a root process ignore a file's read-only mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CASE = """
import json, os, sys
from pathlib import Path
from runner.core.paths import WorkspacePaths
from runner.snapshot.snapshots import take_snapshot
from runner.snapshot.workcopy import working_copy

base = Path(sys.argv[1])
paths = WorkspacePaths(base / "ws")
paths.runner_dir.mkdir(parents=True, exist_ok=True)
src = base / "src"
info = take_snapshot(paths, src)
dest = base / "run"
mode = working_copy(paths, info.id, dest, sys.argv[2])
out = {"mode": mode}
try:
    with open(dest / "data.txt", "r+") as f:
        f.write("XXXX")
    out["write"] = "ok"
except PermissionError:
    out["write"] = "PermissionError"
(dest / "notes.txt").unlink()
(dest / "notes.txt").write_text("the run's own")
out["same_inode"] = os.stat(dest / "lib" / "util.py").st_ino == os.stat(
    info.path / "files" / "lib" / "util.py").st_ino
out["exec"] = os.access(dest / "run.sh", os.X_OK)
out["stored"] = {name: (info.path / "files" / name).read_text()
                 for name in ("data.txt", "notes.txt")}
out["seen"] = {name: (dest / name).read_text() for name in ("data.txt", "notes.txt")}
print(json.dumps(out))
"""


def run_case(tmp_path: Path, *prefix: str, mode: str = "link") -> dict:
    """Snapshot a small tree, make a working copy, try to change it; what happened."""
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "data.txt").write_text("original data\n")
    (src / "notes.txt").write_text("original notes\n")
    (src / "lib" / "util.py").write_text("X = 1\n")
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(CASE),
                           str(tmp_path), mode], capture_output=True, text=True, env=env,
                          timeout=60)
    assert 0 == proc.returncode, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unprivileged_prefix() -> list[str] | None:
    """How to run a process that the read-only mode binds: nothing for an ordinary user,
    ``setpriv`` without CAP_DAC_OVERRIDE for root; None when root cannot drop it."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search",
                            "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_a_linked_working_copy_refuses_in_place_writes_and_keeps_the_blobs():
    """Where the mode binds: files are the blobs' inodes, an in-place write fails with
    PermissionError, a file written over a name is the run's own, executables are
    copies with their bit, and the stored snapshot is unchanged."""
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="workcopy-") as tmp:
        os.chmod(tmp, 0o755)  # setpriv's process keeps uid 0 but is bound by modes
        out = run_case(Path(tmp), *prefix)
    assert "link" == out["mode"]
    assert "PermissionError" == out["write"]
    assert out["same_inode"] and out["exec"]
    assert {"data.txt": "original data\n", "notes.txt": "original notes\n"} == out["stored"]
    assert {"data.txt": "original data\n", "notes.txt": "the run's own"} == out["seen"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only a privileged process ignores the mode")
def test_a_process_that_can_write_read_only_files_gets_a_real_copy(tmp_path):
    """Root (CAP_DAC_OVERRIDE) could write through a link: it gets copies, and its
    in-place write changes the copy only."""
    out = run_case(tmp_path)
    assert "copy" == out["mode"]
    assert "ok" == out["write"]
    assert not out["same_inode"] and out["exec"]
    assert {"data.txt": "original data\n", "notes.txt": "original notes\n"} == out["stored"]
    assert {"data.txt": "XXXXinal data\n", "notes.txt": "the run's own"} == out["seen"]


def test_the_default_working_copy_lets_a_script_edit_its_files_in_place():
    """With the default ``working_copy: copy`` a process that the read-only mode binds
    still gets its own files: the in-place write works and the snapshot is unchanged."""
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="workcopy-") as tmp:
        os.chmod(tmp, 0o755)
        out = run_case(Path(tmp), *prefix, mode="copy")
    assert ("copy", "ok") == (out["mode"], out["write"])
    assert {"data.txt": "original data\n", "notes.txt": "original notes\n"} == out["stored"]


def test_working_copy_setting_is_checked(tmp_path):
    """config.yaml's working_copy is 'copy' by default and anything but copy/link is a
    ConfigError naming the setting."""
    from runner.api.workconfig import config_from_dict
    from runner.core.errors import ConfigError

    assert "copy" == config_from_dict({}, "config.yaml").working_copy
    assert "link" == config_from_dict({"working_copy": "link"}, "config.yaml").working_copy
    with pytest.raises(ConfigError, match="working_copy"):
        config_from_dict({"working_copy": "hardlink"}, "config.yaml")
