"""Workspaces (create, find, settings) and experiments (names, listing, run queries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import (
    ConfigError,
    Experiment,
    Run,
    RunStatus,
    UsageError,
    Workspace,
    WorkspaceNotFound,
)
from runner.api.workconfig import WorkspaceConfig
from runner.inrun.context import WORKSPACE_VAR


def _start(exp: Experiment, **kwargs) -> Run:
    return exp.start_logging(snapshot_directory=None, outputs=False, **kwargs)


# ------------------------------------------------------------------ workspace


def test_create_makes_runner_folder_with_settings_and_store(tmp_path: Path):
    """Workspace.create makes .runner/ with a config.yaml and an initialized store."""
    ws = Workspace.create(tmp_path / "new")

    assert (tmp_path / "new").resolve() == ws.root
    assert (ws.root / ".runner" / "config.yaml").is_file()
    assert ws.paths.db.is_file()
    assert WorkspaceConfig() == ws.config


def test_create_twice_keeps_the_workspace(ws: Workspace):
    """Creating a workspace where one exists returns it and keeps its runs."""
    run = _start(Experiment(ws, "keep"))
    run.complete()

    again = Workspace.create(ws.root)

    assert ws == again
    assert run.id == Run.get(again, run.id).id


def test_create_exist_ok_false_refuses_an_existing_workspace(ws: Workspace):
    """Workspace.create(exist_ok=False) on an existing workspace is an error."""
    with pytest.raises(WorkspaceNotFound, match="already"):
        Workspace.create(ws.root, exist_ok=False)


def test_create_refuses_a_runner_file(tmp_path: Path):
    """A plain file named .runner blocks creation with a clear error."""
    (tmp_path / ".runner").write_text("not a folder")

    with pytest.raises(WorkspaceNotFound, match="not a folder"):
        Workspace.create(tmp_path)


def test_get_opens_the_exact_folder(ws: Workspace):
    """Workspace.get opens the workspace at the path given."""
    assert ws.root == Workspace.get(ws.root).root


def test_get_on_a_folder_that_is_not_a_workspace_says_how_to_create_one(tmp_path: Path):
    """Workspace.get on a plain folder raises WorkspaceNotFound naming `runner init`."""
    with pytest.raises(WorkspaceNotFound, match="runner init") as info:
        Workspace.get(tmp_path)

    assert str(tmp_path.resolve()) == info.value.path


def test_get_does_not_walk_up(ws: Workspace):
    """Workspace.get on a subfolder of a workspace is not the workspace."""
    sub = ws.root / "src"
    sub.mkdir()

    with pytest.raises(WorkspaceNotFound):
        Workspace.get(sub)


def test_from_config_walks_up_like_git(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    """from_config() finds the workspace from any folder below it."""
    deep = ws.root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    assert ws.root == Workspace.from_config().root
    assert ws.root == Workspace.from_config(deep).root


def test_from_config_takes_the_nearest_workspace(ws: Workspace):
    """A workspace nested inside another wins for folders below it."""
    inner = Workspace.create(ws.root / "inner")
    (inner.root / "src").mkdir()

    assert inner.root == Workspace.from_config(inner.root / "src").root
    assert ws.root == Workspace.from_config(ws.root).root


def test_runner_workspace_variable_overrides_the_walk(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """RUNNER_WORKSPACE wins over the workspace found by walking up."""
    other = Workspace.create(tmp_path / "other")
    monkeypatch.setenv(WORKSPACE_VAR, str(other.root))

    assert other.root == Workspace.from_config(ws.root).root


def test_runner_workspace_naming_a_plain_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """RUNNER_WORKSPACE pointing at a folder without .runner/ raises WorkspaceNotFound."""
    monkeypatch.setenv(WORKSPACE_VAR, str(tmp_path))

    with pytest.raises(WorkspaceNotFound, match="runner init"):
        Workspace.from_config()


def test_from_config_without_a_workspace_says_how_to_create_one(tmp_path: Path):
    """from_config() with no workspace above raises WorkspaceNotFound naming `runner init`."""
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()

    with pytest.raises(WorkspaceNotFound, match="runner init") as info:
        Workspace.from_config(nowhere)

    assert str(nowhere.resolve()) == info.value.path


def test_repr_names_the_root(ws: Workspace):
    """A workspace's repr shows its folder."""
    assert f"<Workspace {ws.root}>" == repr(ws)


# ------------------------------------------------------------------- settings


def test_valid_settings_load(ws: Workspace):
    """Settings written in config.yaml are read with their types."""
    ws.paths.config.write_text(
        "max_concurrent_runs: 3\ncancel_grace_seconds: 2.5\nsnapshot_max_files: 10\n"
        "supervisor_start: exec\n"
    )

    config = Workspace.get(ws.root).config

    assert (3, 2.5, 10, "exec") == (
        config.max_concurrent_runs, config.cancel_grace_seconds,
        config.snapshot_max_files, config.supervisor_start,
    )
    assert WorkspaceConfig().snapshot_max_bytes == config.snapshot_max_bytes


@pytest.mark.parametrize("text", ["", "# only comments\n"])
def test_empty_settings_give_the_defaults(ws: Workspace, text: str):
    """An empty or all-comment config.yaml means every default."""
    ws.paths.config.write_text(text)

    assert WorkspaceConfig() == Workspace.get(ws.root).config


def test_missing_settings_file_gives_the_defaults(ws: Workspace):
    """A workspace without config.yaml uses the defaults."""
    ws.paths.config.unlink()

    assert WorkspaceConfig() == Workspace.get(ws.root).config


def test_unparsable_settings_name_the_line(ws: Workspace):
    """Unparsable YAML raises ConfigError naming the file and the line."""
    ws.paths.config.write_text("max_concurrent_runs: 2\ncancel_grace_seconds: [1,\n")

    with pytest.raises(ConfigError, match="line 3") as info:
        Workspace.get(ws.root)

    assert str(ws.paths.config) in str(info.value)


def test_unknown_setting_names_the_key(ws: Workspace):
    """An unknown key raises ConfigError that names it (no silent default)."""
    ws.paths.config.write_text("max_concurent_runs: 2\n")

    with pytest.raises(ConfigError, match="max_concurent_runs") as info:
        Workspace.get(ws.root)

    assert "max_concurent_runs" == info.value.key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("max_concurrent_runs: many\n", "max_concurrent_runs"),
        ("max_concurrent_runs: true\n", "max_concurrent_runs"),
        ("max_concurrent_runs: 0\n", "max_concurrent_runs"),
        ("cancel_grace_seconds: -1\n", "cancel_grace_seconds"),
        ("supervisor_start: thread\n", "supervisor_start"),
    ],
)
def test_invalid_setting_value_names_the_key(ws: Workspace, text: str, key: str):
    """A value of the wrong type or range raises ConfigError naming the key."""
    ws.paths.config.write_text(text)

    with pytest.raises(ConfigError, match=key) as info:
        Workspace.get(ws.root)

    assert key == info.value.key


def test_settings_that_are_not_a_mapping_are_refused(ws: Workspace):
    """A config.yaml holding a list instead of a mapping raises ConfigError."""
    ws.paths.config.write_text("- max_concurrent_runs\n")

    with pytest.raises(ConfigError, match="mapping"):
        Workspace.get(ws.root)


# ---------------------------------------------------------------- experiments


def test_experiment_is_get_or_create(ws: Workspace):
    """Constructing an experiment twice gives the same one, listed once."""
    first = Experiment(ws, "train")
    second = Experiment(ws, "train")

    assert first.id == second.id
    assert first == second
    assert ["train"] == [e.name for e in Experiment.list(ws)]


@pytest.mark.parametrize("name", ["", "-x", "a b", "a" * 256, "_x", "a/b", None])
def test_invalid_experiment_name_is_refused_as_bad_input(ws: Workspace, name):
    """A name outside ^[A-Za-z0-9][\\w-]{0,254}$ raises UsageError and creates nothing."""
    with pytest.raises(UsageError, match="invalid experiment name"):
        Experiment(ws, name)

    assert [] == Experiment.list(ws)


@pytest.mark.parametrize("name", ["a", "a" * 255, "train-on_local1", "9lives", "données"])
def test_valid_experiment_names_are_accepted(ws: Workspace, name: str):
    """Names of 1 to 255 word characters or '-', starting alphanumeric, are valid."""
    assert name == Experiment(ws, name).name


def test_experiment_list_is_sorted_by_name(ws: Workspace):
    """Experiment.list returns every experiment, by name."""
    for name in ("zeta", "alpha", "mid"):
        Experiment(ws, name)

    assert ["alpha", "mid", "zeta"] == [e.name for e in Experiment.list(ws)]


def test_get_runs_is_newest_first_and_top_level_only(exp: Experiment):
    """get_runs() lists top-level runs newest first; children only when asked."""
    first = _start(exp)
    second = _start(exp)
    child = second.child_run("kid")

    assert [second.id, first.id] == [r.id for r in exp.get_runs()]
    assert {first.id, second.id, child.id} == {
        r.id for r in exp.get_runs(include_children=True)}
    assert child.id == next(iter(exp.get_runs(include_children=True))).id


def test_get_runs_filters_by_type(exp: Experiment):
    """get_runs(type=...) keeps runs of that type only."""
    parent = _start(exp)
    child = parent.child_run()

    assert [child.id] == [r.id for r in exp.get_runs(type="child", include_children=True)]
    assert [parent.id] == [r.id for r in exp.get_runs(type="interactive")]


def test_get_runs_filters_by_tag_key_or_values(exp: Experiment):
    """A str tag filter means 'has the key'; a dict means all values equal."""
    a = _start(exp, tags={"team": "x", "stage": "dev"})
    b = _start(exp, tags={"team": "y"})
    _start(exp)

    assert [b.id, a.id] == [r.id for r in exp.get_runs(tags="team")]
    assert [a.id] == [r.id for r in exp.get_runs(tags={"team": "x", "stage": "dev"})]
    assert [] == [r.id for r in exp.get_runs(tags={"team": "x", "stage": "prod"})]


def test_get_runs_filters_by_properties(exp: Experiment):
    """Property filters work like tag filters."""
    a = _start(exp)
    a.add_properties({"kind": "baseline"})
    b = _start(exp)
    b.add_properties({"kind": "tuned"})

    assert [b.id, a.id] == [r.id for r in exp.get_runs(properties="kind")]
    assert [b.id] == [r.id for r in exp.get_runs(properties={"kind": "tuned"})]


def test_get_runs_filters_by_status(exp: Experiment):
    """get_runs(status=...) keeps runs with that status, in any spelling."""
    done = _start(exp)
    done.complete()
    running = _start(exp)

    assert [done.id] == [r.id for r in exp.get_runs(status="Completed")]
    assert [running.id] == [r.id for r in exp.get_runs(status="running")]
    assert RunStatus.COMPLETED == next(iter(exp.get_runs(status="completed"))).get_status()


def test_get_runs_rejects_a_wrong_filter_type(exp: Experiment):
    """A tags filter that is neither str nor dict raises UsageError."""
    with pytest.raises(UsageError, match="tags filter"):
        list(exp.get_runs(tags=["team"]))


def test_get_runs_is_per_experiment(ws: Workspace):
    """An experiment's runs do not include another experiment's."""
    mine = _start(Experiment(ws, "mine"))
    _start(Experiment(ws, "theirs"))

    assert [mine.id] == [r.id for r in Experiment(ws, "mine").get_runs()]
