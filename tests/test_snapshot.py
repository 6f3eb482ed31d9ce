"""Rules of snapshots: what is captured, how it is stored, reused, copied and compared."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.core.errors import NotFoundError, SnapshotError, UsageError
from runner.core.paths import WorkspacePaths
from runner.snapshot import blobs as _snapshot_copy
from runner.snapshot import snapshots as _snapshot
from runner.snapshot.diff import diff_snapshots
from runner.snapshot.snapshots import (
    SnapshotLimits,
    load_manifest,
    materialize,
    restore_snapshot,
    select_files,
    take_snapshot,
)

REPO = Path(__file__).resolve().parents[1]
HOUR_AGO = time.time() - 3600


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def age(root: Path) -> None:
    """Date every file an hour back, as an untouched source tree would be."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (HOUR_AGO, HOUR_AGO), follow_symlinks=False)


def rels(selection: _snapshot.Selection) -> list[str]:
    return [e.rel for e in selection.files]


def blobs(paths: WorkspacePaths) -> set[str]:
    if not paths.blobs.exists():
        return set()
    return {p.name for p in paths.blobs.rglob("*") if p.is_file()}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write(tmp_path / "src", {
        "train.py": "print('hello')\n",
        "lib/util.py": "X = 1\n",
        "data/big.bin": b"\0" * 3000,
    })


@pytest.fixture
def paths(tmp_path: Path) -> WorkspacePaths:
    return WorkspacePaths(tmp_path / "ws")


# --------------------------------------------------------------------------- selection


def test_amlignore_replaces_gitignore(tmp_path: Path) -> None:
    """A root .amlignore is the only ignore file used: .gitignore patterns no longer apply."""
    root = write(tmp_path, {".amlignore": "data/\n", ".gitignore": "*.py\n",
                            "a.py": "", "data/x.csv": "", "sub/.gitignore": "b.txt\n",
                            "sub/b.txt": ""})

    selection = select_files(root)

    assert [".amlignore", ".gitignore", "a.py", "sub/.gitignore", "sub/b.txt"] == rels(selection)
    assert ("data/", "matched .amlignore pattern 'data/'") in selection.ignored


def test_nested_gitignore_applies_to_its_subtree_with_negation(tmp_path: Path) -> None:
    """A nested .gitignore applies below its folder only, overrides the root one, and ``!``
    re-includes."""
    root = write(tmp_path, {
        ".gitignore": "*.log\nout/\n",
        "keep.txt": "", "top.log": "", "out/x": "",
        "pkg/.gitignore": "*.txt\n!important.log\n",
        "pkg/a.txt": "", "pkg/important.log": "", "pkg/other.log": "",
        "other/a.txt": "",
    })

    selection = select_files(root)

    assert [".gitignore", "keep.txt", "other/a.txt", "pkg/.gitignore",
            "pkg/important.log"] == rels(selection)
    assert dict(selection.ignored) == {
        "top.log": "matched .gitignore pattern '*.log'",
        "out/": "matched .gitignore pattern 'out/'",
        "pkg/a.txt": "matched pkg/.gitignore pattern '*.txt'",
        "pkg/other.log": "matched .gitignore pattern '*.log'",
    }


def test_patterns_match_each_path_itself_as_git_does(tmp_path: Path) -> None:
    """A whitelist ('*', '!*/', '!*.py') works, and nothing below an ignored folder comes back."""
    root = write(tmp_path, {
        ".gitignore": "*\n!*/\n!*.py\ndata/\n!data/keep.py\nbar/\n!foo/\n",
        "a.py": "", "b.txt": "", "p/c.py": "", "p/d.csv": "", "data/keep.py": "",
        "foo/bar/x.py": "", "foo/y.py": "",
    })

    selection = select_files(root)

    assert [".gitignore", "a.py", "foo/y.py", "p/c.py"] == rels(selection)
    assert ("foo/bar/", "matched .gitignore pattern 'bar/'") in selection.ignored


def test_always_skipped_folders_and_virtualenvs(tmp_path: Path) -> None:
    """.git, .runner, __pycache__ and any folder holding pyvenv.cfg are never captured."""
    root = write(tmp_path, {
        "a.py": "", ".git/HEAD": "", ".runner/runner.db": "", "pkg/__pycache__/a.pyc": "",
        "pkg/m.py": "", "myenv/pyvenv.cfg": "home = /usr\n", "myenv/lib/site.py": "",
    })

    selection = select_files(root)

    assert ["a.py", "pkg/m.py"] == rels(selection)
    assert dict(selection.ignored) == {
        ".git/": "always skipped", ".runner/": "always skipped",
        "pkg/__pycache__/": "always skipped", "myenv/": "virtualenv",
    }


def test_symlinks_are_kept_as_links_and_never_followed(tmp_path: Path) -> None:
    """Links inside and out of the tree, to files or folders, are captured as links."""
    outside = write(tmp_path / "outside", {"secret.txt": "s", "d/x.txt": "x"})
    root = write(tmp_path / "src", {"real.txt": "r"})
    (root / "in.txt").symlink_to("real.txt")
    (root / "out.txt").symlink_to(outside / "secret.txt")
    (root / "outdir").symlink_to(outside / "d", target_is_directory=True)
    (root / "dangling").symlink_to("nowhere")

    selection = select_files(root)

    links = {e.rel: e.target for e in selection.files if e.kind == "link"}
    assert {"in.txt": "real.txt", "out.txt": str(outside / "secret.txt"),
            "outdir": str(outside / "d"), "dangling": "nowhere"} == links
    assert ["dangling", "in.txt", "out.txt", "outdir", "real.txt"] == rels(selection)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos here")
def test_special_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    """A fifo or a socket is left out and reported as a special file."""
    root = write(tmp_path / "s", {"a.py": ""})
    os.mkfifo(root / "pipe")
    expected = {"pipe": "special file (fifo)"}
    sock = socket.socket(socket.AF_UNIX)
    try:
        try:
            sock.bind(str(root / "sock"))
            expected["sock"] = "special file (socket)"
        except OSError:  # the path is too long for a socket on some systems
            pass
        selection = select_files(root)
    finally:
        sock.close()

    assert ["a.py"] == rels(selection)
    assert expected == dict(selection.ignored)


def _select_as_nobody(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """``select_files(root)`` in a forked child that has dropped root for ``nobody``
    (root reads every file, so the unreadable path needs another user)."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            selection = select_files(root)
            os.write(write_end, json.dumps([rels(selection), selection.ignored]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status), "the child could not select files"
    files, ignored = json.loads(data)
    return files, [tuple(item) for item in ignored]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    """A file this user cannot read is left out and reported (as root: read as nobody)."""
    if os.geteuid() != 0:
        root = write(tmp_path, {"a.py": "", "locked.txt": "x"})
        (root / "locked.txt").chmod(0)
        selection = select_files(root)
        files, ignored = rels(selection), list(selection.ignored)
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:  # tmp_path's parents are root-only
            os.chmod(folder, 0o755)
            root = write(Path(folder), {"a.py": "", "locked.txt": "x"})
            (root / "locked.txt").chmod(0)
            files, ignored = _select_as_nobody(root)

    assert ["a.py"] == files
    assert ("locked.txt", "unreadable (permission denied)") in ignored


def test_file_unreadable_while_snapshotting_is_reported(
        src: Path, paths: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose read fails is left out of the snapshot and named in ``ignored``."""
    real = _snapshot_copy.BlobStore.ingest

    def ingest(self: _snapshot_copy.BlobStore, source: str) -> _snapshot_copy.Ingested:
        if source.endswith("util.py"):
            raise _snapshot_copy.UnreadableSource(PermissionError(13, "Permission denied"))
        return real(self, source)

    monkeypatch.setattr(_snapshot_copy.BlobStore, "ingest", ingest)

    info = take_snapshot(paths, src)

    assert ("lib/util.py", "unreadable (Permission denied)") in info.ignored
    assert ["data/big.bin", "train.py"] == [e["path"] for e in load_manifest(
        paths, info.id)["entries"]]


def test_empty_source_dir_gives_an_empty_snapshot(tmp_path: Path, paths: WorkspacePaths) -> None:
    """An empty source folder is a valid snapshot with no files."""
    (tmp_path / "empty").mkdir()

    info = take_snapshot(paths, tmp_path / "empty")
    materialize(paths, info.id, tmp_path / "out")

    assert (0, 0, []) == (info.files, info.bytes, list((tmp_path / "out").iterdir()))


def test_missing_or_file_source_dir_raises_naming_the_path(tmp_path: Path,
                                                           paths: WorkspacePaths) -> None:
    """A source directory that does not exist or is a file is a SnapshotError naming it."""
    (tmp_path / "file.txt").write_text("x")

    with pytest.raises(SnapshotError, match=r"nope.*does not exist"):
        take_snapshot(paths, tmp_path / "nope")
    with pytest.raises(SnapshotError, match=r"file\.txt.*not a folder"):
        select_files(tmp_path / "file.txt")


# --------------------------------------------------------------------------- store


def test_snapshot_folder_holds_files_and_manifest(src: Path, paths: WorkspacePaths) -> None:
    """The snapshot folder holds the files (hard links to read-only blobs) and MANIFEST.json."""
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)

    info = take_snapshot(paths, src)

    manifest = json.loads((info.path / "MANIFEST.json").read_text())
    assert (4, 15 + 6 + 3000 + 10) == (info.files, info.bytes)
    assert (info.id, str(src.resolve()), 4) == (manifest["id"], manifest["source"],
                                                manifest["files"])
    entry = {e["path"]: e for e in manifest["entries"]}["run.sh"]
    assert {"path": "run.sh", "kind": "file", "exec": True, "size": 10} == {
        k: v for k, v in entry.items() if k != "sha256"}
    linked = info.path / "files" / "train.py"
    blob = paths.blob(_sha(paths, info.id, "train.py"))
    assert "print('hello')\n" == linked.read_text()
    assert os.path.samefile(linked, blob)
    assert 0 == blob.stat().st_mode & 0o222


def _sha(paths: WorkspacePaths, sid: str, rel: str) -> str:
    return {e["path"]: e for e in load_manifest(paths, sid)["entries"]}[rel]["sha256"]


def test_same_tree_gives_same_id_and_reuses_without_new_blobs(src: Path,
                                                               paths: WorkspacePaths) -> None:
    """An unchanged tree gives the same id, ``reused=True``, and stores nothing new."""
    first = take_snapshot(paths, src)
    before = blobs(paths)

    second = take_snapshot(paths, src)

    assert (first.id, False, True) == (second.id, first.reused, second.reused)
    assert before == blobs(paths)
    assert [first.id] == [p.name for p in paths.snapshots.iterdir()
                          if p.name not in ("blobs", "cache")]


def test_one_changed_file_gives_new_id_and_one_new_blob(src: Path,
                                                        paths: WorkspacePaths) -> None:
    """Changing one file gives a new snapshot id and exactly one new blob."""
    first = take_snapshot(paths, src)
    before = blobs(paths)
    (src / "train.py").write_text("print('changed')\n")

    second = take_snapshot(paths, src)

    assert first.id != second.id
    assert 1 == len(blobs(paths) - before)
    assert not second.reused


def test_same_content_elsewhere_gives_same_id(src: Path, tmp_path: Path,
                                              paths: WorkspacePaths) -> None:
    """The id depends on content only, not on where the source folder is."""
    other = tmp_path / "copy"
    subprocess.run(["cp", "-R", str(src), str(other)], check=True)

    assert take_snapshot(paths, src).id == take_snapshot(paths, other).id


def test_stat_cache_avoids_hashing_unchanged_files(
        src: Path, paths: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-snapshot hashes only the files whose stat changed."""
    age(src)
    calls: list[int] = []

    def counting_sha256(*args: bytes) -> object:
        calls.append(1)
        return _snapshot_copy.hashlib.sha256(*args)

    monkeypatch.setattr(_snapshot_copy, "_sha256", counting_sha256)
    take_snapshot(paths, src)
    assert 3 == len(calls)

    take_snapshot(paths, src)
    assert 3 == len(calls)

    # Same size, mtime set back to the cached value: the ctime still tells.
    (src / "lib/util.py").write_text("X = 2\n")
    os.utime(src / "lib/util.py", (HOUR_AGO, HOUR_AGO))
    info = take_snapshot(paths, src)
    assert 4 == len(calls)
    assert "X = 2\n" == (info.path / "files" / "lib" / "util.py").read_text()


def test_recently_modified_files_are_hashed_again(
        src: Path, paths: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files modified just before a snapshot are not trusted to the stat cache."""
    calls: list[int] = []
    monkeypatch.setattr(_snapshot_copy, "_sha256",
                        lambda: calls.append(1) or _snapshot_copy.hashlib.sha256())

    first = take_snapshot(paths, src)
    second = take_snapshot(paths, src)

    assert (6, first.id, True) == (len(calls), second.id, second.reused)


def test_missing_blob_is_stored_again(src: Path, paths: WorkspacePaths) -> None:
    """A blob removed from the store is read again from the source on the next snapshot."""
    age(src)
    first = take_snapshot(paths, src)
    blob = paths.blob(_sha(paths, first.id, "train.py"))
    (src / "lib/util.py").write_text("X = 3\n")
    blob.unlink()

    second = take_snapshot(paths, src)

    assert blob.is_file()
    assert "print('hello')\n" == (second.path / "files" / "train.py").read_text()


def test_limits_refusal_names_largest_file_and_writes_nothing(tmp_path: Path,
                                                            paths: WorkspacePaths) -> None:
    """Over max_bytes, the error names the limit, the largest file and folder, and how to
    ignore them, and nothing is written."""
    root = write(tmp_path / "src", {"a.py": "x", "data/huge.bin": b"x" * 5000,
                                    "data/small.bin": b"x" * 10, "models/m.pt": b"x" * 2000})

    with pytest.raises(SnapshotError) as caught:
        take_snapshot(paths, root, SnapshotLimits(max_bytes=4000, max_files=100))

    message = str(caught.value)
    assert "snapshot_max_bytes" in message
    assert message.index("data/huge.bin") < message.index("models/m.pt")
    assert "data/ (2 files)" in message
    assert ".amlignore" in message and ".runner/config.yaml" in message
    assert (4, 7011) == (caught.value.total_files, caught.value.total_bytes)
    assert not paths.root.exists()


def test_limits_refusal_on_file_count(tmp_path: Path) -> None:
    """Over max_files, check_limits raises naming snapshot_max_files."""
    selection = select_files(write(tmp_path, {f"f{i}.txt": "" for i in range(5)}))

    with pytest.raises(SnapshotError, match="5 files is over the limit of 4"):
        _snapshot.check_limits(selection, SnapshotLimits(max_files=4))
    _snapshot.check_limits(selection, SnapshotLimits(max_files=5))


def test_concurrent_snapshots_from_two_processes_agree(tmp_path: Path,
                                                       paths: WorkspacePaths) -> None:
    """Two processes snapshotting the same tree at once both succeed with the same id."""
    root = write(tmp_path / "src", {f"d{i % 7}/f{i}.txt": f"content {i}\n" * 50
                                    for i in range(300)})
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from runner.core.paths import WorkspacePaths\n"
        "from runner.snapshot.snapshots import take_snapshot\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        f"print(take_snapshot(WorkspacePaths({str(paths.root)!r}), {str(root)!r}).id)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.3)
    go.touch()
    results = [p.communicate(timeout=60) for p in procs]

    assert [0, 0] == [p.returncode for p in procs], results
    ids = {out.strip() for out, _err in results}
    assert {take_snapshot(paths, root).id} == ids
    assert [] == list(paths.tmp.iterdir())


# --------------------------------------------------------------------------- reading


def test_materialize_gives_a_writable_real_copy(src: Path, paths: WorkspacePaths,
                                                tmp_path: Path) -> None:
    """Rewriting a file of the working copy in place changes neither snapshot nor blob."""
    info = take_snapshot(paths, src)
    dest = tmp_path / "runs" / "r1"

    materialize(paths, info.id, dest)
    with open(dest / "train.py", "r+") as f:
        f.write("XXXXX")

    assert "XXXXX('hello')\n" == (dest / "train.py").read_text()
    assert "print('hello')\n" == (info.path / "files" / "train.py").read_text()
    assert "print('hello')\n" == paths.blob(_sha(paths, info.id, "train.py")).read_text()
    assert b"\0" * 3000 == (dest / "data" / "big.bin").read_bytes()


def test_materialize_keeps_exec_bit_links_and_empty_folders(tmp_path: Path,
                                                           paths: WorkspacePaths) -> None:
    """The working copy has the exec bit, symlinks as symlinks and empty folders."""
    root = write(tmp_path / "src", {"run.sh": "#!/bin/sh\n", "a.txt": "a"})
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("a.txt")
    (root / "outputs").mkdir()
    dest = tmp_path / "dest"
    write(dest, {"link": "in the way"})

    materialize(paths, take_snapshot(paths, root).id, dest)

    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "a.txt", os.X_OK)
    assert "a.txt" == os.readlink(dest / "link")
    assert (dest / "outputs").is_dir()


def test_odd_file_names_survive_the_manifest(tmp_path: Path, paths: WorkspacePaths) -> None:
    """Quotes, backslashes, spaces and non-ASCII names round-trip through the snapshot."""
    names = ['we"ird\\name.txt', "sp ace/ü.py", "tab\tname"]
    root = write(tmp_path / "src", {n: n for n in names})
    (root / "link to ü").symlink_to("sp ace/ü.py")

    info = take_snapshot(paths, root)
    materialize(paths, info.id, tmp_path / "out")

    assert sorted([*names, "link to ü"]) == [e["path"] for e in load_manifest(paths, info.id)[
        "entries"]]
    assert names == [(tmp_path / "out" / n).read_text() for n in names]
    assert "sp ace/ü.py" == os.readlink(tmp_path / "out" / "link to ü")


def test_restore_refuses_a_non_empty_folder(src: Path, paths: WorkspacePaths,
                                            tmp_path: Path) -> None:
    """restore_snapshot writes into a new or empty folder and refuses any other."""
    info = take_snapshot(paths, src)
    (tmp_path / "empty").mkdir()
    busy = write(tmp_path / "busy", {"x": ""})

    assert (tmp_path / "empty").resolve() == restore_snapshot(paths, info.id, tmp_path / "empty")
    assert (tmp_path / "new").resolve() == restore_snapshot(paths, info.id, tmp_path / "new")
    with pytest.raises(UsageError, match="not an empty folder"):
        restore_snapshot(paths, info.id, busy)
    assert "X = 1\n" == (tmp_path / "new" / "lib" / "util.py").read_text()


def test_unknown_snapshot_id_is_not_found(paths: WorkspacePaths, tmp_path: Path) -> None:
    """Loading, materializing or restoring an unknown id raises NotFoundError naming it."""
    with pytest.raises(NotFoundError, match="0123456789abcdef0123456789abcdef"):
        load_manifest(paths, "0123456789abcdef0123456789abcdef")
    with pytest.raises(NotFoundError, match=r"\.\./etc"):
        materialize(paths, "../etc", tmp_path / "x")
    with pytest.raises(NotFoundError):
        restore_snapshot(paths, "f" * 32, tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_diff_lists_changes_with_a_unified_text_diff(src: Path, paths: WorkspacePaths) -> None:
    """diff_snapshots lists added, removed and changed paths; changed text files get a
    unified diff, binary ones none."""
    first = take_snapshot(paths, src)
    (src / "train.py").write_text("print('bye')\n")
    (src / "data/big.bin").write_bytes(b"\0" * 2999 + b"\1")
    (src / "lib/util.py").unlink()
    (src / "lib").rmdir()
    (src / "new.txt").write_text("new\n")
    second = take_snapshot(paths, src)

    diff = diff_snapshots(paths, first.id, second.id)

    assert (["new.txt"], ["lib/util.py"], ["data/big.bin", "train.py"]) == (
        diff.added, diff.removed, diff.changed)
    assert (["train.py"], ["data/big.bin"]) == (list(diff.text_diffs), diff.binary)
    assert "-print('hello')\n+print('bye')\n" in diff.text_diffs["train.py"]
    text = diff.render()
    assert "A  new.txt" in text and "D  lib/util.py" in text and "M  train.py" in text
    assert "Binary files a/data/big.bin and b/data/big.bin differ" in text
    assert "+++ b/train.py" in text


def test_blob_store_layout_matches_workspace_paths(paths: WorkspacePaths) -> None:
    """The blob store builds the same paths as WorkspacePaths.blob."""
    store = _snapshot_copy.BlobStore(paths.blobs, paths.tmp)

    assert str(paths.blob("ab" * 32)) == store.path("ab" * 32)
