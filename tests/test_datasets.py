"""Datasets: defined by paths (local, globs, datastore paths), registered as frozen
versions, read back as files, folders and tables; bad paths refused clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import (
    Dataset,
    DatasetNotFound,
    DataType,
    FileDataset,
    TabularDataset,
    UsageError,
)


@pytest.fixture
def csvs(tmp_path: Path) -> Path:
    folder = tmp_path / "csvs"
    (folder / "more").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (folder / "more" / "b.csv").write_text("x,y\n5,6\n")
    (folder / "notes.txt").write_text("not data\n")
    return folder


def test_from_files_of_a_folder_lists_every_file_relative_to_it(csvs):
    """A folder dataset's to_path() lists its files relative to the folder, sorted."""
    dataset = Dataset.File.from_files(path=str(csvs))

    assert isinstance(dataset, FileDataset)
    assert ["/a.csv", "/more/b.csv", "/notes.txt"] == dataset.to_path()


def test_from_files_of_a_glob_keeps_paths_below_the_wildcard(csvs):
    """A glob's files are named below the part before the first wildcard."""
    assert ["/a.csv", "/more/b.csv"] == Dataset.File.from_files(str(csvs / "**" / "*.csv")
                                                                ).to_path()
    assert ["/a.csv"] == Dataset.File.from_files(str(csvs / "*.csv")).to_path()


def test_from_files_of_a_datastore_path(ws, csvs):
    """(datastore, 'data/**') names the files uploaded there."""
    store = ws.get_default_datastore()
    store.upload(csvs, "data", show_progress=False)

    dataset = Dataset.File.from_files(path=(store, "data/**"))

    assert ["/a.csv", "/more/b.csv", "/notes.txt"] == dataset.to_path()
    assert ["/a.csv"] == Dataset.File.from_files(store.path("data/a.csv")).to_path()


def test_a_registered_version_is_frozen_when_the_folder_changes(ws, csvs):
    """After registering, changing the folder and registering again makes version 2;
    version 1 still has the old bytes and files."""
    first = Dataset.File.from_files(str(csvs)).register(ws, "raw")
    (csvs / "a.csv").write_text("x,y\n9,9\n")
    (csvs / "new.csv").write_text("x,y\n0,0\n")

    second = Dataset.File.from_files(str(csvs)).register(ws, "raw", create_new_version=True)
    old = Dataset.get_by_name(ws, "raw", version=1)

    assert (1, 2) == (first.version, second.version)
    assert ["/a.csv", "/more/b.csv", "/notes.txt"] == old.to_path()
    with old.mount() as mounted:
        assert "x,y\n1,2\n3,4\n" == (Path(mounted.mount_point) / "a.csv").read_text()
    assert "/new.csv" in Dataset.get_by_name(ws, "raw").to_path()


def test_registering_unchanged_files_returns_the_same_version(ws, csvs):
    """Registering the same files again (with or without create_new_version) gives version 1."""
    Dataset.File.from_files(str(csvs)).register(ws, "raw")

    again = Dataset.File.from_files(str(csvs)).register(ws, "raw")
    newer = Dataset.File.from_files(str(csvs)).register(ws, "raw", create_new_version=True)

    assert (1, 1) == (again.version, newer.version)


def test_changed_files_need_create_new_version(ws, csvs):
    """Registering other files under a taken name without create_new_version is refused."""
    Dataset.File.from_files(str(csvs)).register(ws, "raw")
    (csvs / "a.csv").write_text("changed\n")

    with pytest.raises(UsageError, match="create_new_version=True"):
        Dataset.File.from_files(str(csvs)).register(ws, "raw")
    assert [1] == Dataset.get_by_name(ws, "raw").get_versions()


def test_download_copies_the_files_and_refuses_to_overwrite(ws, csvs, tmp_path):
    """download(target) writes the files there; again without overwrite raises."""
    dataset = Dataset.File.from_files(str(csvs)).register(ws, "raw")

    written = dataset.download(tmp_path / "dl")

    assert 3 == len(written)
    assert "x,y\n5,6\n" == (tmp_path / "dl" / "more" / "b.csv").read_text()
    with pytest.raises(UsageError, match="overwrite=True"):
        dataset.download(tmp_path / "dl")
    assert 3 == len(dataset.download(tmp_path / "dl", overwrite=True))


def test_mount_at_a_mount_point_links_there_while_mounted(ws, csvs, tmp_path):
    """mount(mount_point) makes that path show the files until the context ends."""
    dataset = Dataset.File.from_files(str(csvs)).register(ws, "raw")
    point = tmp_path / "mnt"

    with dataset.mount(point) as mounted:
        assert str(point) == mounted.mount_point
        assert (point / "more" / "b.csv").is_file()
    assert not point.exists()


def test_tabular_reads_every_file_into_one_frame(ws, csvs):
    """from_delimited_files reads all CSVs in path order into one DataFrame."""
    pytest.importorskip("pandas")
    dataset = Dataset.Tabular.from_delimited_files(path=str(csvs / "**" / "*.csv"))
    registered = dataset.register(ws, "table")

    frame = Dataset.get_by_name(ws, "table").to_pandas_dataframe()

    assert isinstance(registered, TabularDataset)
    assert [1, 3, 5] == frame["x"].tolist()
    assert ["x", "y"] == list(frame.columns)


def test_tabular_separator_header_and_column_types(ws, tmp_path):
    """separator, header=False and set_column_types shape the frame."""
    pytest.importorskip("pandas")
    path = tmp_path / "t.tsv"
    path.write_text("1\t2.5\ttrue\n3\t4.0\tfalse\n")

    frame = Dataset.Tabular.from_delimited_files(
        str(path), separator="\t", header=False,
        set_column_types={"Column1": DataType.to_string(), "Column3": DataType.to_bool()},
    ).to_pandas_dataframe()

    assert ["Column1", "Column2", "Column3"] == list(frame.columns)
    assert ["1", "3"] == frame["Column1"].tolist()
    assert [True, False] == frame["Column3"].tolist()
    assert [2.5, 4.0] == frame["Column2"].tolist()


def test_to_pandas_without_pandas_says_how_to_install_it(tmp_path):
    """to_pandas_dataframe() without pandas raises UsageError naming the pandas extra."""
    path = tmp_path / "t.csv"
    path.write_text("x\n1\n")
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from runner import Dataset, UsageError\n"
        f"ds = Dataset.Tabular.from_delimited_files({str(path)!r})\n"
        "try:\n    ds.to_pandas_dataframe()\nexcept UsageError as e:\n    print(e)\n"
    )

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)

    assert 0 == proc.returncode, proc.stderr
    assert "runner[pandas]" in proc.stdout


def test_missing_files_are_refused_when_the_dataset_is_made(ws, tmp_path):
    """A path that matches nothing raises DatasetNotFound naming the path."""
    with pytest.raises(DatasetNotFound, match="no files found"):
        Dataset.File.from_files(str(tmp_path / "nothing" / "*.csv"))
    with pytest.raises(DatasetNotFound, match="no files found"):
        Dataset.File.from_files((ws.get_default_datastore(), "empty/**"))


def test_unknown_names_and_versions_say_what_exists(ws, csvs):
    """get_by_name of an unknown name lists the names; an unknown version lists versions."""
    Dataset.File.from_files(str(csvs)).register(ws, "raw")

    with pytest.raises(DatasetNotFound, match="registered datasets: raw"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(DatasetNotFound, match="no version 4; its versions are 1"):
        Dataset.get_by_name(ws, "raw", version=4)


def test_paths_outside_a_datastore_are_refused(ws):
    """(datastore, '../x') and absolute datastore paths raise UsageError."""
    store = ws.get_default_datastore()

    for bad in ("../x", "/etc/**", "a/../../b"):
        with pytest.raises(UsageError, match="outside the datastore"):
            Dataset.File.from_files((store, bad))


def test_cloud_paths_are_refused_naming_what_to_do(ws):
    """azureml://, wasbs:// and Azure blob https URLs raise UsageError saying to copy locally."""
    for url in ("azureml://datastores/x/paths/y", "wasbs://c@acct.blob.core.windows.net/p",
                "https://acct.blob.core.windows.net/container/file.csv"):
        with pytest.raises(UsageError, match="cloud storage"):
            Dataset.File.from_files(url)
        with pytest.raises(UsageError, match="cloud storage"):
            Dataset.Tabular.from_delimited_files(url)


def test_a_plain_https_file_is_accepted_without_fetching_until_read():
    """A plain https:// file makes a dataset (it is fetched only when read)."""
    dataset = Dataset.File.from_files("https://example.org/data/file.csv")

    assert "https://example.org/data/file.csv" in repr(dataset)


def test_bad_dataset_names_and_options_are_refused(ws, csvs):
    """A dataset name with spaces, an empty separator and an unknown column type are refused."""
    with pytest.raises(UsageError, match="dataset name"):
        Dataset.File.from_files(str(csvs)).register(ws, "bad name")
    with pytest.raises(UsageError, match="separator"):
        Dataset.Tabular.from_delimited_files(str(csvs), separator="")
    with pytest.raises(UsageError, match="unknown type"):
        Dataset.Tabular.from_delimited_files(str(csvs), set_column_types={"x": "complex"})


def test_as_hdfs_is_refused_naming_the_modes_there_are(csvs):
    """as_hdfs() raises UsageError pointing to as_mount and as_download."""
    with pytest.raises(UsageError, match="as_mount"):
        Dataset.File.from_files(str(csvs)).as_named_input("x").as_hdfs()


def test_upload_directory_copies_and_returns_a_dataset_and_ws_lists_datasets(ws, csvs):
    """Dataset.File.upload_directory copies a folder to a datastore path and returns its
    dataset; ws.datasets lists the latest version of each registered name."""
    store = ws.get_default_datastore()

    dataset = Dataset.File.upload_directory(csvs, (store, "up"), show_progress=False)
    dataset.register(ws, "uploaded")

    assert ["/a.csv", "/more/b.csv", "/notes.txt"] == dataset.to_path()
    assert (store.root / "up" / "more" / "b.csv").is_file()
    assert ["uploaded"] == list(ws.datasets)


def test_a_linked_file_is_stored_by_its_targets_bytes(ws, csvs, tmp_path):
    """A symlink in a dataset folder is frozen as the content of the file it points to."""
    target = tmp_path / "elsewhere.csv"
    target.write_text("x,y\n7,8\n")
    (csvs / "linked.csv").symlink_to(target)

    dataset = Dataset.File.from_files(str(csvs)).register(ws, "linked")
    target.write_text("changed\n")

    written = dataset.download(tmp_path / "dl")
    assert "x,y\n7,8\n" == Path(next(w for w in written if w.endswith("linked.csv"))).read_text()


def test_mount_of_a_local_dataset_freezes_it_into_the_current_workspace(ws, csvs, monkeypatch):
    """mount() of an unregistered local dataset uses the workspace found from the folder."""
    monkeypatch.setenv("RUNNER_WORKSPACE", str(ws.root))

    with Dataset.File.from_files(str(csvs)).mount() as mounted:
        folder = Path(mounted.mount_point)
        assert ws.paths.snapshots in folder.parents
        assert "x,y\n5,6\n" == (folder / "more" / "b.csv").read_text()
