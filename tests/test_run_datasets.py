"""Datasets in and out of submitted runs: inputs become local paths the run records,
outputs become datastore folders kept whatever the run's end."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runner import (
    Dataset,
    DatasetNotFound,
    OutputFileDatasetConfig,
    ScriptRunConfig,
    TabularDataset,
    UsageError,
)

READ_INPUT = """
import json, os, sys
from runner import Run
run = Run.get_context()
path = sys.argv[1]
os.makedirs("outputs", exist_ok=True)
names = sorted(os.path.relpath(os.path.join(d, f), path)
               for d, _, fs in os.walk(path) for f in fs)
json.dump({"arg": path, "input": run.input_datasets["train"], "files": names,
           "writable": bool(os.stat(os.path.join(path, names[0])).st_mode & 0o222)},
          open("outputs/seen.json", "w"))
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def csvs(tmp_path: Path) -> Path:
    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (folder / "b.csv").write_text("x,y\n5,6\n")
    return folder


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return tmp_path / "src"


def _seen(run) -> dict:
    return json.loads((run.folder / "outputs" / "seen.json").read_text())


def test_as_download_gives_the_script_a_folder_of_copies_and_records_the_version(
        ws, exp, csvs, src):
    """as_download() becomes a path to writable copies, equal to input_datasets['train'];
    the run records dataset train:1, and the copies go with the working copy."""
    dataset = Dataset.File.from_files(str(csvs)).register(ws, "train-data")
    _write(src, "read.py", READ_INPUT)

    run = exp.submit(ScriptRunConfig(src, "read.py", arguments=[
        dataset.as_named_input("train").as_download()]))
    details = run.wait_for_completion()

    seen = _seen(run)
    assert "Completed" == details["status"]
    assert seen["arg"] == seen["input"]
    assert ["a.csv", "b.csv"] == seen["files"]
    assert seen["writable"] is True
    (item,) = details["inputDatasets"]
    assert {"name": "train-data", "version": 1} == {k: item["dataset"][k]
                                                    for k in ("name", "version")}
    assert ("train", "Download") == (item["consumptionDetails"]["inputName"],
                                     item["consumptionDetails"]["mechanism"])
    assert not Path(seen["arg"]).exists()


def test_as_mount_gives_the_frozen_read_only_folder(ws, exp, csvs, src):
    """as_mount() becomes the path of the version's frozen files, which are read-only."""
    dataset = Dataset.File.from_files(str(csvs)).register(ws, "train-data")
    _write(src, "read.py", READ_INPUT)

    run = exp.submit(ScriptRunConfig(src, "read.py", arguments=[
        dataset.as_named_input("train").as_mount()]))
    run.wait_for_completion()

    seen = _seen(run)
    assert ["a.csv", "b.csv"] == seen["files"]
    assert seen["writable"] is False
    assert str(ws.paths.snapshot_dir(dataset.snapshot_id) / "files") == seen["arg"]


def test_an_unregistered_input_is_frozen_at_submit(ws, exp, csvs, src):
    """An unregistered dataset is frozen when submitted: the run records its snapshot."""
    _write(src, "read.py", READ_INPUT)

    run = exp.submit(ScriptRunConfig(src, "read.py", arguments=[
        Dataset.File.from_files(str(csvs)).as_named_input("train").as_mount()]))
    details = run.wait_for_completion()

    (item,) = details["inputDatasets"]
    assert item["dataset"]["name"] is None
    assert ws.paths.snapshot_dir(item["dataset"]["snapshotId"]).is_dir()


def test_a_tabular_input_is_the_dataset_inside_the_run(ws, exp, csvs, src):
    """run.input_datasets['t'] of a tabular dataset is a TabularDataset the script reads."""
    pytest.importorskip("pandas")
    Dataset.Tabular.from_delimited_files(str(csvs)).register(ws, "table")
    _write(src, "tab.py", """
        import os
        from runner import Run
        run = Run.get_context()
        table = run.input_datasets["t"]
        os.makedirs("outputs", exist_ok=True)
        frame = table.to_pandas_dataframe()
        open("outputs/seen.txt", "w").write(f"{type(table).__name__} {frame['x'].sum()}")
    """)

    run = exp.submit(ScriptRunConfig(src, "tab.py", arguments=[
        Dataset.get_by_name(ws, "table").as_named_input("t")]))
    run.wait_for_completion()

    assert "TabularDataset 9" == (run.folder / "outputs" / "seen.txt").read_text()
    assert isinstance(run.input_datasets["t"], TabularDataset)


WRITE_OUTPUT = """
import os, sys
out = sys.argv[1]
open(os.path.join(out, "result.txt"), "w").write("written")
if len(sys.argv) > 2:
    raise SystemExit(3)
"""


def test_an_output_folder_is_kept_on_its_datastore_and_registered_on_complete(ws, exp, src):
    """An OutputFileDatasetConfig is a datastore folder; a completed run registers it."""
    store = ws.get_default_datastore()
    output = OutputFileDatasetConfig(name="result", destination=(store, "out/{run-id}"))
    _write(src, "write.py", WRITE_OUTPUT)

    run = exp.submit(ScriptRunConfig(src, "write.py", arguments=[
        output.register_on_complete("results")]))
    details = run.wait_for_completion()

    folder = store.root / "out" / run.id
    assert "written" == (folder / "result.txt").read_text()
    registered = Dataset.get_by_name(ws, "results")
    assert ["/result.txt"] == registered.to_path()
    assert run.id == registered._row["run_id"]
    (item,) = details["outputDatasets"]
    assert ("result", f"out/{run.id}", "results") == (
        item["outputDetails"]["outputName"], item["pathOnDatastore"], item["dataset"]["name"])
    assert {"result": str(folder)} == run.output_datasets


def test_a_failed_run_keeps_its_output_folder_but_registers_nothing(ws, exp, src):
    """A run that fails keeps what it wrote in the output folder; no dataset is registered."""
    output = OutputFileDatasetConfig(name="result").register_on_complete("results")
    _write(src, "write.py", WRITE_OUTPUT)

    run = exp.submit(ScriptRunConfig(src, "write.py", arguments=[output, "fail"]))
    details = run.wait_for_completion(raise_on_error=False)

    folder = ws.get_default_datastore().root / "dataset" / run.id / "result"
    assert "Failed" == details["status"]
    assert "written" == (folder / "result.txt").read_text()
    (item,) = details["outputDatasets"]
    assert item["dataset"]["name"] is None
    with pytest.raises(DatasetNotFound):
        Dataset.get_by_name(ws, "results")


def test_bad_data_arguments_are_refused_before_a_run_is_made(ws, exp, csvs, src):
    """Two inputs of one name, an output outside its datastore and an input whose files
    are gone raise, and leave no run."""
    _write(src, "read.py", READ_INPUT)
    dataset = Dataset.File.from_files(str(csvs))
    store = ws.get_default_datastore()

    with pytest.raises(UsageError, match="named 'x'"):
        exp.submit(ScriptRunConfig(src, "read.py", arguments=[
            dataset.as_named_input("x").as_mount(), dataset.as_named_input("x").as_download()]))
    with pytest.raises(UsageError, match="outside the datastore"):
        OutputFileDatasetConfig(name="o", destination=(store, "../escape"))
    with pytest.raises(UsageError, match="input name"):
        dataset.as_named_input("bad name")
    for f in csvs.iterdir():
        f.unlink()
    with pytest.raises(DatasetNotFound, match="no files found"):
        exp.submit(ScriptRunConfig(src, "read.py", arguments=[
            dataset.as_named_input("train").as_mount()]))
    assert [] == list(ws.store.query_runs(include_children=True))


def test_input_datasets_in_a_run_imports_only_the_standard_library(ws, exp, csvs, script_run):
    """run.input_datasets inside a run (file and tabular inputs) loads no third-party module."""
    import os
    import subprocess
    import sys

    from runner.registry import assets

    run_id = script_run()
    table = Dataset.Tabular.from_delimited_files(str(csvs)).register(ws, "table")
    files = Dataset.File.from_files(str(csvs)).register(ws, "files")
    assets.record_run_datasets(ws.store, run_id, [
        {"direction": "input", "name": n, "dataset": d.name, "version": d.version,
         "snapshot_id": d.snapshot_id, "mode": "mount", "path": "/p", "spec": d._spec}
        for n, d in (("t", table), ("f", files))])
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "from runner import Run\n"
        "inputs = Run.get_context().input_datasets\n"
        "print(json.dumps([type(inputs['t']).__name__, inputs['f'], sorted(\n"
        "    m for m in set(sys.modules) - before if m.split('.')[0] not in\n"
        "    (*sys.stdlib_module_names, 'runner'))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env.update(RUNNER_WORKSPACE=str(ws.root), RUNNER_RUN_ID=run_id, RUNNER_EXPERIMENT=exp.name)

    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)

    assert 0 == proc.returncode, proc.stderr
    assert ["TabularDataset", "/p", []] == json.loads(proc.stdout)
