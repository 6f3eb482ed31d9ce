"""The model registry: versions per name (also under concurrency), files stored once,
lookups, changes, and clear errors for what is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import (
    ArtifactNotFound,
    InferenceConfig,
    Model,
    ModelNotFound,
    NotFoundError,
    Run,
    UsageError,
    Webservice,
)


def _blob_bytes(ws) -> tuple[int, int]:
    files = [p for p in ws.paths.blobs.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "model.pkl"
    path.parent.mkdir()
    path.write_bytes(b"weights-1")
    return path


def test_versions_start_at_one_and_go_up_per_name(ws, model_file):
    """Registering a name three times gives versions 1, 2, 3; another name starts at 1."""
    versions = [Model.register(ws, model_file, "m").version for _ in range(3)]
    other = Model.register(ws, model_file, "other")

    assert [1, 2, 3] == versions
    assert 1 == other.version
    assert 3 == Model(ws, "m").version
    assert "m:2" == Model(ws, "m", version=2).id
    assert "m:2" == Model(ws, id="m:2").id


def test_registering_the_same_bytes_twice_stores_them_once(ws, model_file, tmp_path):
    """A second registration of the same content (even under another name) adds no blob."""
    Model.register(ws, model_file, "m")
    before = _blob_bytes(ws)
    copy = tmp_path / "copy.pkl"
    copy.write_bytes(model_file.read_bytes())

    Model.register(ws, model_file, "m")
    Model.register(ws, copy, "n")

    assert before == _blob_bytes(ws)


_REGISTER = """
import sys
from runner import Model, Workspace
ws = Workspace(sys.argv[1])
for _ in range(int(sys.argv[3])):
    print(Model.register(ws, sys.argv[2], "shared").version, flush=True)
"""


def test_concurrent_registrations_from_processes_get_consecutive_versions(ws, model_file):
    """Four processes registering one name five times each get versions 1..20, each once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    procs = [subprocess.Popen([sys.executable, "-c", _REGISTER, str(ws.root), str(model_file),
                               "5"], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(4)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]

    assert [0, 0, 0, 0] == [p.returncode for p in procs]
    versions = sorted(int(v) for out in outputs for v in out.split())
    assert list(range(1, 21)) == versions
    assert 20 == Model(ws, "shared").version


def test_a_folder_keeps_its_name_and_downloads_as_a_folder(ws, tmp_path):
    """A folder registers with its files under its own name; download returns that folder."""
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")

    model = Model.register(ws, folder, "folder-model")
    got = model.download(tmp_path / "dl")

    assert ["outputs/a.txt", "outputs/sub/b.txt"] == [f["path"] for f in model.get_files()]
    assert str(tmp_path / "dl" / "outputs") == got
    assert "b" == (Path(got) / "sub" / "b.txt").read_text()


def test_download_refuses_to_overwrite_unless_exist_ok(ws, model_file, tmp_path):
    """download into a folder that has the file raises; exist_ok=True replaces it."""
    model = Model.register(ws, model_file, "m")
    target = tmp_path / "dl"
    target.mkdir()
    (target / "model.pkl").write_bytes(b"old")

    with pytest.raises(UsageError, match="exist already"):
        model.download(target)
    assert b"old" == (target / "model.pkl").read_bytes()
    assert str(target / "model.pkl") == model.download(target, exist_ok=True)
    assert b"weights-1" == (target / "model.pkl").read_bytes()


def test_a_registered_version_keeps_its_bytes_when_the_source_changes(ws, model_file):
    """Changing the source file after registering leaves the version's file as it was."""
    model = Model.register(ws, model_file, "m")
    model_file.write_bytes(b"weights-2")

    assert b"weights-1" == Path(Model.get_model_path("m", _workspace=ws)).read_bytes()
    assert b"weights-1" == (Path(model.download(model_file.parent / "dl"))).read_bytes()


def test_list_filters_by_name_tags_properties_and_latest(ws, model_file):
    """Model.list narrows by name, tag key, tag value, property and latest version."""
    Model.register(ws, model_file, "a", tags={"stage": "dev"})
    Model.register(ws, model_file, "a", tags={"stage": "prod"}, properties={"auc": 0.9})
    Model.register(ws, model_file, "b")

    assert {"a:1", "a:2", "b:1"} == {m.id for m in Model.list(ws)}
    assert {"a:1", "a:2"} == {m.id for m in Model.list(ws, name="a")}
    assert {"a:1", "a:2"} == {m.id for m in Model.list(ws, tags=["stage"])}
    assert ["a:2"] == [m.id for m in Model.list(ws, tags=[["stage", "prod"]])]
    assert ["a:2"] == [m.id for m in Model.list(ws, properties={"auc": "0.9"})]
    assert {"a:2", "b:1"} == {m.id for m in Model.list(ws, latest=True)}


def test_tags_change_and_properties_are_add_only(ws, model_file):
    """add_tags changes a tag; add_properties refuses to change a property."""
    model = Model.register(ws, model_file, "m", tags={"k": "1"}, properties={"p": "x"})

    model.add_tags({"k": "2"})
    model.add_properties({"q": "y"})

    assert {"k": "2"} == Model(ws, "m").tags
    assert {"p": "x", "q": "y"} == Model(ws, "m").properties
    with pytest.raises(UsageError, match="add-only"):
        model.add_properties({"p": "changed"})


def test_a_deleted_version_is_gone_and_its_number_is_not_reused(ws, model_file):
    """After deleting version 2, the latest is 1 and the next registration is 3."""
    Model.register(ws, model_file, "m")
    Model.register(ws, model_file, "m").delete()

    assert 1 == Model(ws, "m").version
    assert 3 == Model.register(ws, model_file, "m").version
    with pytest.raises(ModelNotFound, match="has no version 2; its versions are 1, 3"):
        Model(ws, "m", version=2)


def test_unknown_names_and_versions_say_what_exists(ws, model_file):
    """An unknown name lists the registered names; an unknown version lists the versions."""
    Model.register(ws, model_file, "known")

    with pytest.raises(ModelNotFound, match=r"no model named .nope.*known"):
        Model(ws, "nope")
    with pytest.raises(ModelNotFound, match="no version 9; its versions are 1"):
        Model(ws, "known", version=9)
    with pytest.raises(UsageError, match="positive integer"):
        Model(ws, "known", version="x")


def test_registering_a_missing_path_names_it_and_writes_nothing(ws, tmp_path):
    """Model.register of a path that does not exist raises and registers no version."""
    with pytest.raises(NotFoundError, match="does not exist"):
        Model.register(ws, tmp_path / "missing.pkl", "m")

    assert [] == Model.list(ws)


def test_bad_names_are_refused(ws, model_file):
    """Model names with ':' or '/' (or empty) are refused."""
    for name in ("", "a:b", "a/b"):
        with pytest.raises(UsageError, match="model"):
            Model.register(ws, model_file, name)


def test_run_register_model_takes_a_file_of_the_run_and_records_the_run(ws, exp):
    """run.register_model('m', 'outputs/model.pkl') registers that file, linked to the run."""
    with exp.start_logging(snapshot_directory=None) as run:
        pass
    out = run.folder / "outputs"
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pkl").write_bytes(b"from-run")

    model = run.register_model("m", "./outputs/model.pkl", tags={"t": "1"})

    assert (1, run.id, exp.name) == (model.version, model.run_id, model.experiment_name)
    assert [{"path": "model.pkl", "size": 8}] == model.get_files()
    assert ["m:1"] == [m.id for m in run.get_models()]


def test_run_register_model_takes_a_folder_of_the_run(ws, exp):
    """run.register_model('m', 'outputs') registers every file under outputs/."""
    with exp.start_logging(snapshot_directory=None) as run:
        pass
    (run.folder / "outputs").mkdir(exist_ok=True)
    (run.folder / "outputs" / "a.bin").write_bytes(b"a")
    (run.folder / "outputs" / "b.bin").write_bytes(b"b")

    model = run.register_model("m", "outputs")

    assert ["outputs/a.bin", "outputs/b.bin"] == [f["path"] for f in model.get_files()]


def test_run_register_model_of_a_missing_file_lists_the_runs_files(ws, exp):
    """register_model of a path the run does not have raises and lists its files."""
    with exp.start_logging(snapshot_directory=None) as run:
        pass
    (run.folder / "outputs").mkdir(exist_ok=True)
    (run.folder / "outputs" / "real.pkl").write_bytes(b"x")

    with pytest.raises(ArtifactNotFound, match=r"outputs/real\.pkl"):
        run.register_model("m", "outputs/missing.pkl")
    assert [] == Model.list(ws)


def test_get_model_path_inside_a_run_uses_the_runs_workspace(ws, model_file, tmp_path):
    """Model.get_model_path(name) in a process of a run finds the run's workspace."""
    Model.register(ws, model_file, "scoring")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env.update({"RUNNER_WORKSPACE": str(ws.root), "RUNNER_RUN_ID": "r1",
                "RUNNER_EXPERIMENT": "e"})
    code = ("from runner import Model; import pathlib; "
            "print(pathlib.Path(Model.get_model_path('scoring')).read_bytes().decode())")

    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)

    assert 0 == proc.returncode, proc.stderr
    assert "weights-1" == proc.stdout.strip()


def test_deployment_is_refused_naming_what_to_do(ws, model_file):
    """Model.deploy, InferenceConfig and Webservice raise UsageError pointing to
    get_model_path."""
    model = Model.register(ws, model_file, "m")

    with pytest.raises(UsageError, match="get_model_path"):
        Model.deploy(ws, "svc", [model])
    with pytest.raises(UsageError, match="get_model_path"):
        model.deploy()
    with pytest.raises(UsageError, match="InferenceConfig is not supported"):
        InferenceConfig(entry_script="score.py")
    with pytest.raises(UsageError, match=r"Webservice\.list is not supported"):
        Webservice.list(ws)


def test_offline_context_has_no_register_model():
    """Outside a submitted run, Run.get_context() is offline and has no register_model."""
    assert not hasattr(Run.get_context(), "register_model")


def test_workspace_models_has_the_latest_version_of_each_name(ws, model_file):
    """ws.models maps each model name to its latest version."""
    Model.register(ws, model_file, "a")
    Model.register(ws, model_file, "a")
    Model.register(ws, model_file, "b")

    assert {"a": "a:2", "b": "b:1"} == {k: m.id for k, m in ws.models.items()}


def test_model_catalog_groups_versions_with_their_run_and_files(ws, exp):
    """model_catalog lists each name with its versions (newest first), run and files;
    run_id= keeps the models of one run."""
    from runner.api.model import model_catalog

    with exp.start_logging(snapshot_directory=None) as run:
        pass
    (run.folder / "outputs").mkdir(exist_ok=True)
    (run.folder / "outputs" / "m.pkl").write_bytes(b"m")
    run.register_model("m", "outputs/m.pkl")
    run.register_model("m", "outputs/m.pkl")
    Model.register(ws, run.folder / "outputs" / "m.pkl", "other")

    catalog = model_catalog(ws)
    (only_run,) = model_catalog(ws, run_id=run.id)

    assert ["m", "other"] == [c["name"] for c in catalog]
    assert [2, 1] == [v["version"] for v in catalog[0]["versions"]]
    assert (2, run.id, [{"path": "m.pkl", "size": 1}]) == (
        catalog[0]["latest"], catalog[0]["versions"][0]["runId"],
        catalog[0]["versions"][0]["files"])
    assert "m" == only_run["name"]
