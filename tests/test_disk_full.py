"""A full disk: the supervisor survives, the run ends Failed naming the cause and the place,
and readers report instead of raising. Uses a real 2 MiB tmpfs (root only)."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig, Workspace


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MiB tmpfs mounted for the test, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


_FILL = """
    import os
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/big.bin", "wb", buffering=0) as f:
        while True:
            f.write(b"x" * 65536)  # raises OSError(ENOSPC) once the disk is full
"""


def test_a_run_that_fills_the_disk_ends_failed_naming_it(small_disk: Path, tmp_path: Path):
    """The disk fills; readers answer; once space is back the run is Failed with the cause."""
    ws = Workspace.create(small_disk / "ws")
    src = tmp_path / "src"
    src.mkdir()
    (src / "fill.py").write_text(textwrap.dedent(_FILL))
    run = Experiment(ws, "full").submit(ScriptRunConfig(src, "fill.py"))
    big = run.folder / "outputs" / "big.bin"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            big.exists() and os.statvfs(small_disk).f_bavail == 0):
        time.sleep(0.05)
    time.sleep(1.5)  # the script has died of ENOSPC; its supervisor waits for space
    during = run.get_status()  # a reader on a full disk reports, it does not raise
    big.unlink()
    details = run.wait_for_completion(raise_on_error=False)
    message = details["error"]["error"]["message"]
    assert during in ("Running", "Finalizing", "Failed")
    assert "Failed" == details["status"]
    assert "no space left on device" in message.lower()
    assert str(ws.root) in message


def test_a_reader_on_a_full_disk_reports_a_dead_owner_without_raising(small_disk: Path):
    """A run whose owner died reads as Failed while the disk is full, and is recorded later."""
    from runner import Run

    ws = Workspace.create(small_disk / "ws")
    dead = subprocess.Popen(["true"])
    dead.wait()
    ws.store.insert_run("orphan_1", "full", type="interactive", status="Running",
                        created=time.time(), owner_pid=dead.pid, owner_start=1.0)
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 65536)
        except OSError:
            pass
    seen = Run.get(ws, "orphan_1").get_status()
    filler.unlink()
    Run.get(ws, "orphan_1").get_status()
    assert ("Failed", "Failed") == (seen, ws.store.get_run("orphan_1")["status"])
