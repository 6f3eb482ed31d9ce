"""Rules of the Environment spec classes: defaults, loading, saving, registering (no builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.api.environment import CondaDependencies, Environment
from runner.core.errors import EnvironmentNotFound, EnvironmentSpecError, UsageError
from runner.core.paths import WorkspacePaths
from runner.envs import curated as _curated


@pytest.fixture
def ws(tmp_path: Path) -> WorkspacePaths:
    paths = WorkspacePaths(tmp_path / "ws")
    paths.runner_dir.mkdir(parents=True)
    return paths


class _Workspace:
    """Stands for runner.Workspace: anything with a ``.paths``."""

    def __init__(self, paths: WorkspacePaths) -> None:
        self.paths = paths


def test_defaults_follow_azure_ml() -> None:
    """A new Environment is managed, runs `python`, and carries Azure ML's example variable."""
    env = Environment("e")
    assert (False, "python", None) == (env.python.user_managed_dependencies,
                                       env.python.interpreter_path, env.version)
    assert {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"} == env.environment_variables
    assert [] == env.python.conda_dependencies.pip_packages
    assert env.docker.enabled is False


def test_name_must_be_a_string() -> None:
    """A non-string name is a TypeError, as in Azure ML."""
    with pytest.raises(TypeError):
        Environment(3)  # type: ignore[arg-type]


def test_create_and_add_pip_package_replaces_same_project() -> None:
    """add_pip_package replaces an earlier requirement for the same project."""
    cd = CondaDependencies.create(pip_packages=["six==1.15.0", "packaging"],
                                  python_version="3.11")
    cd.add_pip_package("Six>=1.16")
    assert ["packaging", "Six>=1.16"] == cd.pip_packages
    assert "3.11" == cd.python_version


def test_create_index_url_becomes_a_pip_option() -> None:
    """pip_indexurl is kept as an --index-url option, not as a package."""
    cd = CondaDependencies.create(pip_indexurl="https://example.invalid/simple",
                                  pip_packages=["six"])
    assert ["--index-url https://example.invalid/simple"] == cd.pip_options
    assert ["six"] == cd.pip_packages


def test_python_version_must_be_a_version() -> None:
    """A python version that is not X[.Y[.Z]] is refused when set."""
    with pytest.raises(EnvironmentSpecError, match="not a version number"):
        CondaDependencies.create(python_version="latest")


def test_from_pip_requirements_reads_lines_and_options(tmp_path: Path) -> None:
    """Requirement lines become pip packages; option lines become options with absolute paths."""
    (tmp_path / "more.txt").write_text("packaging\n")
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nsix==1.16.0  # pinned\n\n-r more.txt\n--no-index\n")
    env = Environment.from_pip_requirements("req", req)
    cd = env.python.conda_dependencies
    assert ["six==1.16.0"] == cd.pip_packages
    assert [f"-r {tmp_path / 'more.txt'}", "--no-index"] == cd.pip_options


def test_from_pip_requirements_missing_file(tmp_path: Path) -> None:
    """A missing requirements file is an error naming the file."""
    with pytest.raises(EnvironmentSpecError, match=r"nope.txt does not exist"):
        Environment.from_pip_requirements("x", tmp_path / "nope.txt")


def test_from_conda_specification_honours_python_and_pip(tmp_path: Path) -> None:
    """python=X.Y and the pip: list are used; pip itself is dropped; other packages are kept."""
    spec = tmp_path / "environment.yml"
    spec.write_text("name: whatever\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n"
                    "  - pip\n  - numpy=1.26\n  - pip:\n    - six==1.16.0\n"
                    "variables:\n  FOO: bar\n")
    env = Environment.from_conda_specification("c", spec)
    cd = env.python.conda_dependencies
    assert ("3.11", ["six==1.16.0"], ["numpy=1.26"]) == (cd.python_version, cd.pip_packages,
                                                         cd.conda_packages)
    assert "bar" == env.environment_variables["FOO"]


def test_conda_specification_unknown_key(tmp_path: Path) -> None:
    """An unknown top-level key in a conda file is an error listing the allowed ones."""
    spec = tmp_path / "environment.yml"
    spec.write_text("dependencies: []\nextras: 1\n")
    with pytest.raises(EnvironmentSpecError, match=r"extras.*allowed: name, channels"):
        Environment.from_conda_specification("c", spec)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    """Malformed YAML is an error naming the file and the line."""
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\npython:\n  pip:\n    - six\n  version: [3.11\n")
    with pytest.raises(EnvironmentSpecError) as info:
        Environment.from_yaml(bad)
    assert str(bad) in str(info.value)
    assert "line 6" in str(info.value) or "line 5" in str(info.value)
    assert info.value.line in (5, 6)


def test_yaml_unknown_key_is_named(tmp_path: Path) -> None:
    """An unknown key is an error naming it and the allowed keys."""
    bad = tmp_path / "env.yml"
    bad.write_text("name: x\npython:\n  pipp: [six]\n")
    with pytest.raises(EnvironmentSpecError, match=r"python\.pipp"):
        Environment.from_yaml(bad)


def test_yaml_float_version_is_refused(tmp_path: Path) -> None:
    """An unquoted 3.10 (the number 3.1) is refused with a hint to quote it."""
    bad = tmp_path / "env.yml"
    bad.write_text("name: x\npython:\n  version: 3.10\n")
    with pytest.raises(EnvironmentSpecError, match="quoted"):
        Environment.from_yaml(bad)


def test_save_and_from_yaml_round_trip(tmp_path: Path) -> None:
    """save() then from_yaml() gives an equal environment."""
    env = Environment("roundtrip")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"],
                                                             python_version="3.11")
    env.python.conda_dependencies.set_pip_option("--no-index")
    env.environment_variables = {"A": "1"}
    path = env.save(tmp_path / "sub" / "env.yml")
    assert env == Environment.from_yaml(path)


def test_yaml_name_defaults_to_file_stem(tmp_path: Path) -> None:
    """A file without name: is named after the file."""
    path = tmp_path / "myenv.yml"
    path.write_text("python:\n  pip: [six]\n")
    assert "myenv" == Environment.from_yaml(path).name


def test_yaml_relative_paths_are_taken_from_the_file(tmp_path: Path) -> None:
    """-r and -f paths in a YAML file are relative to that file's folder."""
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "env.yml"
    path.write_text("name: x\npython:\n  pip:\n    - -r reqs.txt\n"
                    "  pip_options: ['-f ../wheels']\n")
    options = Environment.from_yaml(path).python.conda_dependencies.pip_options
    assert [f"-r {tmp_path / 'cfg' / 'reqs.txt'}", f"-f {tmp_path / 'wheels'}"] == options


def test_save_validates_before_writing(tmp_path: Path) -> None:
    """An invalid environment is refused by save() and no file is written."""
    env = Environment("bad")
    env.environment_variables = {"1BAD": "x"}
    target = tmp_path / "env.yml"
    with pytest.raises(EnvironmentSpecError, match="1BAD"):
        env.save(target)
    assert [] == list(tmp_path.iterdir())


def test_to_dict_is_json_and_from_dict_restores() -> None:
    """to_dict() survives JSON and from_dict() rebuilds an equal environment."""
    env = Environment("j")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = "/usr/bin/python3"
    env.version = "3"
    restored = Environment.from_dict(json.loads(json.dumps(env.to_dict())))
    assert env == restored
    assert "3" == restored.version


def test_from_dict_rejects_garbage() -> None:
    """from_dict() of something that is not a definition is an EnvironmentSpecError."""
    with pytest.raises(EnvironmentSpecError, match="Unknown key"):
        Environment.from_dict({"name": "x", "image": "ubuntu"})


def test_unsupported_pip_option() -> None:
    """A pip option runner does not pass on is refused, listing the supported ones."""
    with pytest.raises(EnvironmentSpecError, match="Supported: "):
        CondaDependencies().set_pip_option("--user")


def test_register_stores_new_versions(ws: WorkspacePaths) -> None:
    """Each register() stores the next version as a YAML file in the workspace."""
    env = Environment("mine")
    env.python.conda_dependencies.add_pip_package("six")
    first = env.register(_Workspace(ws))
    env.python.conda_dependencies.add_pip_package("packaging")
    second = env.register(ws)
    assert ("1", "2") == (first.version, second.version)
    assert (ws.runner_dir / "environments" / "mine" / "2.yml").is_file()
    assert env.version is None
    latest = Environment.get(ws, "mine").python.conda_dependencies
    first_again = Environment.get(ws, "mine", version="1").python.conda_dependencies
    assert (["six", "packaging"], ["six"]) == (latest.pip_packages, first_again.pip_packages)


def test_register_preset_version_conflict(ws: WorkspacePaths) -> None:
    """A preset version already registered with another definition is refused."""
    env = Environment("pinned")
    env.version = "7"
    assert "7" == env.register(ws).version
    assert "7" == env.register(ws).version  # same definition: returns it
    env.environment_variables = {"X": "1"}
    with pytest.raises(EnvironmentSpecError, match="already registered"):
        env.register(ws)


def test_register_reserved_and_bad_names(ws: WorkspacePaths) -> None:
    """AzureML-/Microsoft- prefixes and names with slashes cannot be registered."""
    for name in ("AzureML-sklearn", "microsoft-x", "a/b", None):
        with pytest.raises(EnvironmentSpecError):
            Environment(name).register(ws)
    assert not (ws.runner_dir / "environments").exists()


def test_register_needs_a_workspace_object(ws: WorkspacePaths) -> None:
    """register() given something that is not a workspace says what it expected."""
    with pytest.raises(UsageError, match="Workspace"):
        Environment("x").register("not a workspace")


def test_get_unknown_name_lists_what_exists(ws: WorkspacePaths) -> None:
    """An unknown name is EnvironmentNotFound listing registered and curated names."""
    Environment("known").register(ws)
    with pytest.raises(EnvironmentNotFound, match=r"Registered: known; curated: .*minimal"):
        Environment.get(ws, "unknown")


def test_get_unknown_version_lists_versions(ws: WorkspacePaths) -> None:
    """An unknown version is EnvironmentNotFound listing the registered versions."""
    Environment("v").register(ws)
    with pytest.raises(EnvironmentNotFound, match="registered versions: 1"):
        Environment.get(ws, "v", version="9")


def test_get_curated_by_name(ws: WorkspacePaths) -> None:
    """Curated environments are found by name with pinned packages."""
    sklearn = Environment.get(ws, "sklearn")
    pins = sklearn.python.conda_dependencies.pip_packages
    assert any(p.startswith("scikit-learn==") for p in pins)
    assert all("==" in p for p in pins)
    assert "1" == sklearn.version
    assert [] == Environment.get(ws, "minimal").python.conda_dependencies.pip_packages


def test_registered_shadows_curated(ws: WorkspacePaths) -> None:
    """A registered environment named like a curated one takes precedence."""
    env = Environment("minimal")
    env.python.conda_dependencies.add_pip_package("six")
    env.register(ws)
    assert ["six"] == Environment.get(ws, "minimal").python.conda_dependencies.pip_packages


def test_list_includes_curated_and_registered(ws: WorkspacePaths) -> None:
    """list() maps every usable name to its latest version."""
    Environment("a").register(ws)
    Environment("a").register(ws)
    found = Environment.list(ws)
    assert {"a", "minimal", "sklearn"} <= set(found)
    assert "2" == found["a"].version


def test_labels_are_not_supported(ws: WorkspacePaths) -> None:
    """get(label=...) is refused with a clear message."""
    with pytest.raises(EnvironmentSpecError, match="labels"):
        Environment.get(ws, "sklearn", label="latest")


def test_curated_files_are_valid_and_named_like_their_file() -> None:
    """Every curated file loads, and its name: matches its file name."""
    folder = _curated.curated_dir()
    assert folder is not None
    names = _curated.curated_names()
    assert {"minimal", "sklearn"} <= set(names)
    for name in names:
        assert name == Environment.from_yaml(folder / f"{name}.yml").name


def test_curated_symlink_points_at_environments_folder() -> None:
    """runner/_curated (package data in wheels) is the top-level environments/ folder."""
    package = Path(_curated.__file__).resolve().parent.parent
    link = package / "_curated"
    assert (package.parent / "environments").resolve() == link.resolve()


def test_works_with_a_runner_workspace(tmp_path: Path) -> None:
    """register/get/list accept a runner.Workspace (anything with .paths)."""
    from runner import Workspace

    workspace = Workspace.create(tmp_path / "real")
    env = Environment("with-ws")
    assert "1" == env.register(workspace).version
    assert "1" == Environment.get(workspace, "with-ws").version
    assert "with-ws" in Environment.list(workspace)


def test_local_package_paths_become_absolute(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A local package path is made absolute when added, so it means the same thing later."""
    monkeypatch.chdir(tmp_path)
    cd = CondaDependencies.create(pip_packages=["./pkg", "dist/x-1.0-py3-none-any.whl", "six"])
    assert [str(tmp_path / "pkg"), str(tmp_path / "dist/x-1.0-py3-none-any.whl"),
            "six"] == cd.pip_packages
