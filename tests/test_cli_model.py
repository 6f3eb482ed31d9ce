"""``runner model list|show|download|delete`` and the datasets lines of ``runner show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runner import Model, Workspace
from runner.cli.main import cli


def invoke(ws: Workspace, *args: str) -> Result:
    """Run ``runner --workspace WS ARGS`` in-process, through the real error boundary."""
    return CliRunner().invoke(cli, ["--workspace", str(ws.root), *args])


@pytest.fixture
def registered(ws: Workspace, tmp_path: Path) -> Model:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"1234")
    Model.register(ws, folder, "clf", tags={"stage": "dev"})
    return Model.register(ws, folder, "clf", description="second")


def test_model_list_shows_each_version(ws, registered):
    """`runner model list` has a row per version with name, version and tags."""
    result = invoke(ws, "model", "list")

    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["NAME", "VERSION"]
    assert ["clf 2", "clf 1"] == [" ".join(line.split()[:2]) for line in lines[1:]]
    assert "stage=dev" in lines[2]


def test_model_list_json_filters_by_tag(ws, registered):
    """`runner model list --tag stage=dev --json` gives only version 1."""
    result = invoke(ws, "model", "list", "--tag", "stage=dev", "--json")

    assert 0 == result.exit_code, result.output
    assert ["clf:1"] == [m["id"] for m in json.loads(result.output)]


def test_model_show_lists_the_files(ws, registered):
    """`runner model show clf` shows the latest version, its description and files."""
    result = invoke(ws, "model", "show", "clf")

    assert 0 == result.exit_code, result.output
    assert "clf:2" in result.output
    assert "second" in result.output
    assert "model/weights.bin" in result.output


def test_model_download_writes_the_files(ws, registered, tmp_path):
    """`runner model download clf:1 -o DIR` writes the model's folder there."""
    result = invoke(ws, "model", "download", "clf:1", "-o", str(tmp_path / "out"))

    assert 0 == result.exit_code, result.output
    assert b"1234" == (tmp_path / "out" / "model" / "weights.bin").read_bytes()
    assert str(tmp_path / "out" / "model") == result.output.strip()


def test_model_delete_needs_a_version_and_deletes_it(ws, registered):
    """`runner model delete clf` is refused; `delete clf:2` leaves version 1 as the latest."""
    refused = invoke(ws, "model", "delete", "clf")
    deleted = invoke(ws, "model", "delete", "clf:2")

    assert 2 == refused.exit_code
    assert "clf:VERSION" in refused.output
    assert 0 == deleted.exit_code, deleted.output
    assert 1 == Model(ws, "clf").version


def test_unknown_models_exit_with_not_found(ws, registered):
    """An unknown name or version exits 4 with a message naming what exists."""
    name = invoke(ws, "model", "show", "nope")
    version = invoke(ws, "model", "show", "clf:7")

    assert (4, 4) == (name.exit_code, version.exit_code)
    assert "registered models: clf" in name.output
    assert "its versions are 1, 2" in version.output


def test_runner_show_lists_the_runs_input_datasets(ws, exp, tmp_path):
    """`runner show RUN` has an Input line naming the dataset version and how it was read."""
    from runner import Dataset, ScriptRunConfig

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    dataset = Dataset.File.from_files(str(data)).register(ws, "raw")
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.py").write_text("import sys; print(sys.argv[1])\n")
    run = exp.submit(ScriptRunConfig(src, "s.py", arguments=[
        dataset.as_named_input("train").as_download()]))
    run.wait_for_completion()

    result = invoke(ws, "show", run.id)

    assert 0 == result.exit_code, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("Input train:"))
    assert "raw:1 as download at" in line
