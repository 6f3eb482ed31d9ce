"""Pooled working copies: a run whose copy is provably untouched hands it to the next
run of its snapshot; any change to the copy, however small, means a fresh copy next time.

Every case is real runs through ``Experiment.submit``. The script writes what it
sees (content, mode, link target of every entry of its working copy, and the
inode + ctime of files) to ``outputs/seen.json`` before doing anything else, so
a test can tell a reused copy (same inode and ctime as the last run's file) from
a fresh one, and check that both hold exactly the snapshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig, Workspace
from runner.snapshot import workpool
from runner.snapshot.snapshots import take_snapshot

SCRIPT = textwrap.dedent("""
    import hashlib, json, os, stat, sys

    def seen():
        out = {}
        for folder, dirs, files in os.walk("."):
            rel = os.path.relpath(folder, ".")
            if rel == ".":
                dirs[:] = [d for d in dirs if d not in ("outputs", "logs", ".sys")]
                rel = ""
            for name in dirs + files:
                path = os.path.join(rel, name) if rel else name
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    what = "link:" + os.readlink(path)
                elif stat.S_ISDIR(st.st_mode):
                    what = "dir"
                else:
                    what = hashlib.sha256(open(path, "rb").read()).hexdigest()
                out[path] = [what, stat.S_IMODE(st.st_mode), st.st_ino, st.st_ctime_ns]
        return out

    os.makedirs("outputs", exist_ok=True)
    with open("outputs/seen.json", "w") as f:
        json.dump(seen(), f)
    action = sys.argv[1] if len(sys.argv) > 1 else "none"
    if action == "edit":
        with open("data/a.txt", "r+b") as f:
            f.write(b"X")
    elif action == "append":
        with open("lib/util.py", "a") as f:
            f.write("# more\\n")
    elif action == "rewrite-same-bytes":
        data = open("data/a.txt", "rb").read()
        open("data/a.txt", "wb").write(data)
    elif action == "chmod":
        os.chmod("data/a.txt", 0o600)
    elif action == "chmod-exec-off":
        os.chmod("lib/tool.sh", 0o644)
    elif action == "touch":
        os.utime("data/a.txt", (0, 0))
    elif action == "delete":
        os.unlink("data/sub/b.bin")
    elif action == "rename":
        os.rename("data/a.txt", "data/a2.txt")
    elif action == "rename-back":
        os.rename("data/a.txt", "data/a2.txt")
        os.rename("data/a2.txt", "data/a.txt")
    elif action == "add":
        open("data/sub/new.txt", "w").write("new")
    elif action == "add-in-empty":
        open("data/empty/new.txt", "w").write("new")
    elif action == "remove-empty":
        os.rmdir("data/empty")
    elif action == "replace":
        open("lib/util.tmp", "w").write("X = 1\\n")
        os.replace("lib/util.tmp", "lib/util.py")
    elif action == "relink":
        os.unlink("lib/link.py")
        os.symlink("../data/a.txt", "lib/link.py")
    elif action == "hardlink":
        os.link("data/a.txt", "outputs/a-link.txt")
    elif action == "hardlink-then-unlink":
        os.link("data/a.txt", "data/tmp-link")
        os.unlink("data/tmp-link")
    elif action == "upload-into-copy":
        from runner import Run
        Run.get_context().upload_file("lib/uploaded.txt", "data/a.txt")
    elif action == "sleep":
        import time
        time.sleep(float(sys.argv[2]))
    elif action == "late-writer":
        import subprocess
        subprocess.Popen([sys.executable, "-c",
                          "import time; time.sleep(1.5); open('data/a.txt', 'a').write('late')"],
                         start_new_session=True)
""")

#: A file no action touches: its inode + ctime tell a reused copy from a fresh one.
WITNESS = "lib/deep/keep.txt"


def make_source(folder: Path, extra: str = "") -> Path:
    """A tree with the things a copy must get right: folders, an executable, a
    symlink, an empty folder, binary data; and POOL_MIN_FILES more files."""
    (folder / "lib" / "deep").mkdir(parents=True)
    (folder / "data" / "sub").mkdir(parents=True)
    (folder / "empty").mkdir()
    (folder / "data" / "empty").mkdir()
    (folder / "main.py").write_text(SCRIPT)
    (folder / "lib" / "util.py").write_text("X = 0\n" + extra)
    (folder / WITNESS).write_text("keep me\n")
    (folder / "data" / "a.txt").write_text("original data\n")
    (folder / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "lib" / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    for name in ("run.sh", "lib/tool.sh"):
        os.chmod(folder / name, 0o755)
    os.symlink("lib/util.py", folder / "link.py")
    os.symlink("util.py", folder / "lib" / "link.py")
    # Enough files for the pool to pay (smaller snapshots are copied afresh).
    (folder / "filler").mkdir()
    for i in range(workpool.POOL_MIN_FILES):
        (folder / "filler" / f"f{i:03d}.txt").write_text(f"{i}\n")
    old = time.time() - 3600  # the stat cache trusts files older than 2 seconds
    for path in folder.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)
    return folder


def configure(ws: Workspace, text: str) -> None:
    """Write ``text`` as the workspace's config.yaml."""
    ws.paths.config.write_text(textwrap.dedent(text))
    ws._config = None


def submit(exp: Experiment, src: Path, *args: str, wait: bool = True):
    """Submit main.py with ``args``; with ``wait``, wait and return what it saw."""
    run = exp.submit(ScriptRunConfig(src, "main.py", arguments=list(args)))
    if not wait:
        return run
    return seen(run)


def seen(run) -> dict[str, list]:
    """What the run's script saw of its working copy (after asserting it completed)."""
    details = run.wait_for_completion()
    assert "Completed" == details["status"], details.get("error")
    return json.loads((run.folder / "outputs" / "seen.json").read_text())


def content(view: dict[str, list]) -> dict[str, list]:
    """Content and mode of every entry, without inode and ctime."""
    return {rel: facts[:2] for rel, facts in view.items()}


def identity(view: dict[str, list], rel: str = WITNESS) -> tuple[int, int]:
    """(inode, ctime) of one file as a run saw it."""
    return tuple(view[rel][2:])


def pooled(ws: Workspace) -> list[str]:
    """Names of the pool's complete entries."""
    return [name for name, _size in workpool.pool_entries(ws.paths)]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_source(tmp_path / "src")


def test_a_reused_copy_is_identical_to_a_fresh_one(exp: Experiment, src: Path):
    """The second run gets the first run's untouched copy (same inodes), and it holds
    exactly what a fresh copy holds: contents, modes, the symlink, the empty folder."""
    first = submit(exp, src)
    assert 1 == len(pooled(exp.workspace))
    run = submit(exp, src, wait=False)
    second = seen(run)
    third = submit(exp, src)

    assert identity(first) == identity(second) == identity(third)
    assert content(first) == content(second) == content(third)
    assert ["link:lib/util.py", "link:util.py", "dir", "dir", 0o755 & ~_umask()] == [
        first["link.py"][0], first["lib/link.py"][0], first["empty"][0],
        first["data/empty"][0], first["lib/tool.sh"][1]]
    assert 1 == len(pooled(exp.workspace))
    assert {"outputs", "logs"} <= set(os.listdir(run.folder))
    assert not (run.folder / "lib").exists()


@pytest.mark.parametrize("action", [
    "edit", "append", "rewrite-same-bytes", "chmod", "chmod-exec-off", "touch", "delete",
    "rename", "rename-back", "add", "add-in-empty", "remove-empty", "replace", "relink",
    "hardlink", "hardlink-then-unlink",
])
def test_a_run_that_changes_its_copy_leaves_a_fresh_copy_for_the_next(
        exp: Experiment, src: Path, action: str):
    """Whatever a run changes in its copy, the next run of the snapshot gets a fresh,
    correct copy (the changed one is not pooled)."""
    first = submit(exp, src)
    changer = submit(exp, src, action)
    after = submit(exp, src)

    assert identity(first) == identity(changer)  # the pooled copy was taken
    assert identity(changer) != identity(after)  # then not given out again
    assert content(first) == content(after)


def test_a_run_that_uploads_into_its_copy_keeps_the_upload(exp: Experiment, src: Path):
    """An upload stored inside a snapshot folder stays with the run; the copy is not pooled."""
    first = submit(exp, src)
    run = submit(exp, src, "upload-into-copy", wait=False)
    changer = seen(run)
    after = submit(exp, src)

    assert "original data\n" == (run.folder / "lib" / "uploaded.txt").read_text()
    assert identity(first) == identity(changer) != identity(after)
    assert content(first) == content(after)


def test_a_process_left_running_cannot_change_the_next_runs_copy(exp: Experiment, src: Path):
    """A process the script started in a new session ends with the run, before its copy
    is checked: the next runs see the snapshot as it was."""
    submit(exp, src, "late-writer")
    time.sleep(2.0)
    after = submit(exp, src)
    again = submit(exp, src)

    assert "original data\n" == (src / "data" / "a.txt").read_text()
    assert content(after) == content(again)
    assert after["data/a.txt"][0] == _sha256(b"original data\n")


def test_concurrent_runs_of_one_snapshot_both_get_correct_copies(ws: Workspace, src: Path):
    """Two runs started together: one takes the pooled copy, the other makes its own;
    both see the snapshot, and both copies are pooled at the end."""
    configure(ws, "max_concurrent_runs: 2\n")
    exp = Experiment(ws, "test")
    first = submit(exp, src)
    runs = [submit(exp, src, "sleep", "1", wait=False) for _ in range(2)]
    views = [seen(run) for run in runs]

    assert [content(first)] * 2 == [content(v) for v in views]
    assert 1 == [identity(v) for v in views].count(identity(first))
    assert 2 == len(pooled(ws))


def test_the_pool_keeps_the_most_recent_copies_within_its_bounds(ws: Workspace,
                                                                 tmp_path: Path):
    """With room for two copies, three snapshots leave the two most recent; a copy
    over the byte budget is not kept; 0 entries turns the pool off."""
    configure(ws, "working_copy_pool_entries: 2\n")
    exp = Experiment(ws, "test")
    sources = [make_source(tmp_path / f"src{i}", extra=f"# {i}\n") for i in range(3)]
    for source in sources:
        submit(exp, source)
    snapshot_ids = [take_snapshot(ws.paths, source).id for source in sources]

    assert snapshot_ids[:0:-1] == [name.split("-")[0] for name in pooled(ws)]

    configure(ws, "working_copy_pool_entries: 4\nworking_copy_pool_bytes: 1000\n")
    before = set(pooled(ws))
    submit(Experiment(ws, "test"), make_source(tmp_path / "big", extra="# big\n"))
    assert before == set(pooled(ws))

    configure(ws, "working_copy_pool_entries: 0\n")
    exp = Experiment(ws, "test")
    off = make_source(tmp_path / "off", extra="# off\n")
    one, two = submit(exp, off), submit(exp, off)
    assert identity(one) != identity(two)
    assert before == set(pooled(ws))


def test_linked_working_copies_are_not_pooled(ws: Workspace, src: Path):
    """working_copy: link makes no pool entries."""
    configure(ws, "working_copy: link\n")
    exp = Experiment(ws, "test")
    submit(exp, src)
    submit(exp, src)
    assert [] == pooled(ws)


def test_two_workspaces_keep_their_own_pools(tmp_path: Path, src: Path):
    """The same source in two workspaces: each run takes only its own workspace's copy."""
    one, two = (Workspace.create(tmp_path / name) for name in ("ws1", "ws2"))
    a1 = submit(Experiment(one, "test"), src)
    b1 = submit(Experiment(two, "test"), src)
    a2 = submit(Experiment(one, "test"), src)
    b2 = submit(Experiment(two, "test"), src)

    assert identity(a1) == identity(a2) != identity(b1) == identity(b2)
    assert 1 == len(pooled(one)) == len(pooled(two))


def test_leftovers_of_a_crash_are_never_handed_out_and_are_cleaned(exp: Experiment,
                                                                   src: Path):
    """A half-filled pool folder of a dead process is not taken and goes at the next
    pooling; an entry whose facts file is unreadable gives a fresh copy."""
    first = submit(exp, src)
    pool = exp.workspace.paths.workcopies
    (name,) = pooled(exp.workspace)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = pool / f".tmp-{dead.pid}-0000"
    (half / "tree").mkdir(parents=True)
    (half / "tree" / "main.py").write_text("print('half')\n")
    (pool / name / workpool.FACTS_NAME).write_bytes(b"not facts")

    second = submit(exp, src)
    assert identity(first) != identity(second)
    assert content(first) == content(second)
    assert not half.exists()
    assert 1 == len(pooled(exp.workspace))


def test_clear_pool_deletes_every_entry(exp: Experiment, src: Path):
    """clear_pool empties the pool; the next run makes a fresh copy."""
    first = submit(exp, src)
    assert 1 == workpool.clear_pool(exp.workspace.paths)
    assert [] == pooled(exp.workspace)
    assert identity(first) != identity(submit(exp, src))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_pool_settings_are_checked():
    """working_copy_pool_entries and _bytes default to 4 and 1 GiB; negative ones are refused."""
    from runner.api.workconfig import config_from_dict
    from runner.core.errors import ConfigError

    config = config_from_dict({}, "config.yaml")
    assert (4, 1024**3) == (config.working_copy_pool_entries, config.working_copy_pool_bytes)
    assert 0 == config_from_dict({"working_copy_pool_entries": 0}).working_copy_pool_entries
    for key in ("working_copy_pool_entries", "working_copy_pool_bytes"):
        with pytest.raises(ConfigError, match=key):
            config_from_dict({key: -1}, "config.yaml")


def test_a_snapshot_with_its_own_outputs_folder_is_not_pooled(exp: Experiment, src: Path):
    """A source folder holding outputs/ mixes with the run's outputs: always a fresh copy."""
    (src / "outputs").mkdir()
    (src / "outputs" / "given.txt").write_text("from the source\n")
    first = submit(exp, src)
    second = submit(exp, src)

    assert [] == pooled(exp.workspace)
    assert identity(first) != identity(second)
    assert content(first) == content(second)


def test_a_small_snapshot_is_copied_afresh_every_time(exp: Experiment, tmp_path: Path):
    """Below POOL_MIN_FILES files and POOL_MIN_BYTES bytes a copy is cheaper than pooling."""
    small = tmp_path / "small"
    small.mkdir()
    (small / "main.py").write_text(SCRIPT)
    (small / "data").mkdir()
    (small / "data" / "a.txt").write_text("original data\n")
    first = submit(exp, small)
    second = submit(exp, small)

    assert [] == pooled(exp.workspace)
    assert identity(first, "data/a.txt") != identity(second, "data/a.txt")
