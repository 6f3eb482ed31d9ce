"""Datastores: the default folder, registered local folders, uploads and downloads that
never leave the datastore."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import Datastore, DatastoreNotFound, NotFoundError, UsageError


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.csv").write_text("x,y\n3,4\n")
    return folder


def test_the_default_datastore_is_a_folder_in_the_workspace(ws):
    """get_default_datastore() is workspaceblobstore, a folder under .runner/, listed in
    ws.datastores."""
    store = ws.get_default_datastore()

    assert "workspaceblobstore" == store.name
    assert ws.paths.runner_dir / "datastores" / "workspaceblobstore" == store.root
    assert store.root.is_dir()
    assert ["workspaceblobstore"] == list(ws.datastores)
    assert store == Datastore(ws, "workspaceblobstore") == Datastore.get_default(ws)


def test_upload_copies_a_folder_under_the_target_path(ws, src, capsys):
    """upload(src, 'data') puts every file at data/<relative path> and reports progress."""
    store = ws.get_default_datastore()

    store.upload(str(src), target_path="data", show_progress=True)

    assert "x,y\n3,4\n" == (store.root / "data" / "sub" / "b.csv").read_text()
    out = capsys.readouterr().out
    assert "Uploading an estimated of 2 files" in out
    assert "Uploaded 2 files" in out


def test_upload_skips_existing_files_unless_overwrite(ws, src):
    """A second upload leaves changed files as they were; overwrite=True replaces them."""
    store = ws.get_default_datastore()
    store.upload(src, "data", show_progress=False)
    (src / "a.csv").write_text("changed\n")

    store.upload(src, "data", show_progress=False)
    assert "x,y\n1,2\n" == (store.root / "data" / "a.csv").read_text()
    store.upload(src, "data", overwrite=True, show_progress=False)
    assert "changed\n" == (store.root / "data" / "a.csv").read_text()


def test_upload_files_keeps_paths_below_the_relative_root(ws, src):
    """upload_files keeps each file's path below relative_root."""
    store = ws.get_default_datastore()

    store.upload_files([src / "a.csv", src / "sub" / "b.csv"], relative_root=src,
                       target_path="t", show_progress=False)

    assert ["t/a.csv", "t/sub/b.csv"] == sorted(
        p.relative_to(store.root).as_posix() for p in store.root.rglob("*.csv"))


def test_download_copies_files_under_a_prefix(ws, src, tmp_path):
    """download(target, prefix='data/sub') copies only those files, paths kept, and counts them."""
    store = ws.get_default_datastore()
    store.upload(src, "data", show_progress=False)

    count = store.download(tmp_path / "out", prefix="data/sub", show_progress=False)

    assert 1 == count
    assert (tmp_path / "out" / "data" / "sub" / "b.csv").is_file()
    assert not (tmp_path / "out" / "data" / "a.csv").exists()


def test_register_local_names_another_folder(ws, tmp_path):
    """register_local names a folder; Datastore(ws, name) opens it; it can become the default."""
    folder = tmp_path / "lake"
    folder.mkdir()

    store = Datastore.register_local(ws, "lake", folder)
    Datastore(ws, "lake").set_as_default()

    assert folder.resolve() == Datastore(ws, "lake").root
    assert "lake" == ws.get_default_datastore().name
    assert {"lake", "workspaceblobstore"} == set(ws.datastores)
    assert store == ws.datastores["lake"]


def test_paths_outside_a_datastore_are_refused_before_copying(ws, src, tmp_path):
    """target paths with '..' or absolute, and links pointing out, raise; nothing is copied."""
    store = ws.get_default_datastore()
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "escape").symlink_to(outside)

    for bad in ("../x", "/abs", "a/../../x"):
        with pytest.raises(UsageError, match="outside the datastore"):
            store.upload(src, bad, show_progress=False)
    with pytest.raises(UsageError, match="outside the datastore"):
        store.upload(src, "escape", show_progress=False)
    assert [] == list(outside.iterdir())


def test_unknown_and_bad_datastores_are_refused_clearly(ws, tmp_path):
    """An unknown name lists the registered ones; a missing folder, a bad name, a taken
    name and cloud datastores are refused."""
    folder = tmp_path / "f"
    folder.mkdir()
    Datastore.register_local(ws, "one", folder)

    with pytest.raises(DatastoreNotFound, match="registered datastores: one, workspaceblobstore"):
        Datastore(ws, "nope")
    with pytest.raises(NotFoundError, match="does not exist"):
        Datastore.register_local(ws, "two", tmp_path / "missing")
    with pytest.raises(UsageError, match="letters, digits"):
        Datastore.register_local(ws, "bad name", folder)
    with pytest.raises(UsageError, match="overwrite=True"):
        Datastore.register_local(ws, "one", tmp_path)
    with pytest.raises(UsageError, match="register_local"):
        Datastore.register_azure_blob_container(ws, "blob", "container", "account")
    with pytest.raises(NotFoundError, match="not a folder"):
        ws.get_default_datastore().upload(tmp_path / "missing", "x")
