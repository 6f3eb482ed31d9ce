"""Rules of submit-time validation, the cache key and redaction (no virtualenv is built)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runner.api.environment import CondaDependencies, Environment
from runner.core.errors import EnvironmentSpecError
from runner.core.paths import WorkspacePaths
from runner.envs.interp import find_python, resolve_interpreter
from runner.envs.prepare import (
    ResolvedEnvironment,
    environment_hash,
    prepare_environment,
    redact_env_vars,
    validate_environment,
)


@pytest.fixture
def ws(tmp_path: Path) -> WorkspacePaths:
    paths = WorkspacePaths(tmp_path / "ws")
    paths.runner_dir.mkdir(parents=True)
    return paths


def _managed(*packages: str, **kwargs) -> Environment:
    env = Environment("m")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=list(packages),
                                                             **kwargs)
    return env


def _user_managed(interpreter: str) -> Environment:
    env = Environment("u")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = interpreter
    return env


def test_none_is_valid(ws: WorkspacePaths) -> None:
    """No environment means the submitting interpreter, which is always valid."""
    assert [] == validate_environment(None, ws)


def test_user_managed_sys_executable_is_not_run(ws: WorkspacePaths) -> None:
    """sys.executable is accepted without running it (no cache file is written)."""
    validate_environment(_user_managed(sys.executable), ws)
    assert not (ws.tmp / "interpreters.json").exists()


def test_user_managed_unknown_interpreter(ws: WorkspacePaths) -> None:
    """An interpreter that does not exist is an error naming it and the fix."""
    with pytest.raises(EnvironmentSpecError, match=r"no-such-python.*interpreter_path"):
        validate_environment(_user_managed("no-such-python-3.99"), ws)


def test_user_managed_not_a_python(ws: WorkspacePaths, tmp_path: Path) -> None:
    """An executable that is not a Python is refused."""
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\necho not python >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(EnvironmentSpecError, match="not a Python interpreter"):
        validate_environment(_user_managed(str(fake)), ws)


def test_interpreter_answer_is_cached(ws: WorkspacePaths, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A real interpreter binary is run once; its answer is cached by (realpath, size, mtime)."""
    # A copy (not sys.executable itself) so that it is really run.
    copy = tmp_path / "pycopy"
    copy.write_bytes(Path(os.path.realpath(sys.executable)).read_bytes())
    copy.chmod(0o755)
    info = resolve_interpreter(str(copy), ws.tmp)
    cache = json.loads((ws.tmp / "interpreters.json").read_text())
    assert 1 == len(cache)
    assert info.version == ".".join(map(str, sys.version_info[:3]))

    def no_process(*args, **kwargs):
        raise AssertionError("a cached interpreter must not be run again")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(subprocess, "run", no_process)
    assert info.version == resolve_interpreter(str(copy), ws.tmp).version


def test_a_wrapper_script_is_run_once_per_process_and_environment(
        ws: WorkspacePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shim (a script that picks a Python from the environment) is run once per process
    for one folder and one set of the variables that choose; changing one runs it again."""
    runs = tmp_path / "runs.txt"
    shim = tmp_path / "python-shim"
    shim.write_text(f'#!/bin/sh\necho run >> "{runs}"\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    for _ in range(3):
        resolve_interpreter(str(shim), ws.tmp)
    assert ["run"] == runs.read_text().split()
    monkeypatch.setenv("PYENV_VERSION", "another")
    resolve_interpreter(str(shim), ws.tmp)
    resolve_interpreter(str(shim), ws.tmp)
    assert ["run", "run"] == runs.read_text().split()
    assert not (ws.tmp / "interpreters.json").exists() or \
        str(shim) not in (ws.tmp / "interpreters.json").read_text()


def test_python_version_not_installed_lists_found(ws: WorkspacePaths) -> None:
    """A Python version that is not installed is an error listing the versions found."""
    env = _managed("six", python_version="2.1")
    with pytest.raises(EnvironmentSpecError) as info:
        validate_environment(env, ws)
    current = ".".join(map(str, sys.version_info[:3]))
    assert "Python 2.1 is requested" in str(info.value)
    assert current in info.value.found


def test_python_version_matching_current_runs_nothing(ws: WorkspacePaths) -> None:
    """A request the current interpreter satisfies resolves to sys.executable."""
    request = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert sys.executable == find_python(request, ws.tmp).executable


def test_requirements_file_missing(ws: WorkspacePaths, tmp_path: Path) -> None:
    """A -r file that does not exist (any more) is an error naming it."""
    env = _managed("six")
    env.python.conda_dependencies.set_pip_option(f"-r {tmp_path / 'gone.txt'}")
    with pytest.raises(EnvironmentSpecError, match=r"gone.txt"):
        validate_environment(env, ws)


def test_conda_packages_without_conda_are_installed_with_pip(ws: WorkspacePaths, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """With no conda on PATH, conda packages become pip requirements, with one notice
    listing what was mapped and what was left out."""
    from runner.envs.prepare import effective_python

    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.path.dirname(sys.executable)}")
    env = _managed("six", conda_packages=["numpy=1.26", "pytorch=2.1", "cudatoolkit=11.8"])

    notices = validate_environment(env, ws)
    py, _, log = effective_python(env.to_dict())

    assert ["numpy==1.26.*", "torch==2.1.*", "six"] == py["pip"]
    assert [] == py["conda_packages"]
    assert 2 == len(notices)
    assert "pytorch=2.1 -> torch==2.1.*" in notices[0]
    assert "cudatoolkit" in notices[1]
    assert any(line.startswith("left out: cudatoolkit") for line in log)


def test_azureml_packages_are_left_out_of_managed_builds(ws: WorkspacePaths) -> None:
    """azureml-defaults is left out and azureml-mlflow becomes mlflow-skinny, with a notice."""
    from runner.envs.prepare import effective_python

    env = _managed("six", "azureml-defaults~=1.61", "azureml-mlflow")

    py, notices, _ = effective_python(env.to_dict())

    assert ["six", "mlflow-skinny"] == py["pip"]
    assert "azureml-defaults~=1.61: runner provides the azureml package" in notices[0]


@pytest.fixture
def only_this_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH holds this interpreter's folder only; no pyenv or uv installs are searched."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-uv"))


def test_a_python_patch_pin_matches_the_installed_minor(ws: WorkspacePaths,
                                                        only_this_python: None) -> None:
    """python=3.X.99 (not installed) runs with the installed 3.X, with a notice."""
    from runner.envs.interp import find_python_like_conda

    request = f"{sys.version_info[0]}.{sys.version_info[1]}.99"

    info, note = find_python_like_conda(request, ws.tmp)

    assert info.version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert request in note


def test_a_pin_older_than_runner_supports_uses_the_nearest_supported(ws: WorkspacePaths,
                                                                     only_this_python: None
                                                                     ) -> None:
    """python=3.6.2 runs with the lowest installed 3.9 or newer, with a notice saying why."""
    from runner.envs.interp import find_python_like_conda

    info, note = find_python_like_conda("3.6.2", ws.tmp)

    assert tuple(int(p) for p in info.version.split(".")[:2]) >= (3, 9)
    assert "older than runner supports" in note


@pytest.mark.skipif(sys.version_info[:2] <= (3, 9), reason="needs a minor between 3.9 and this")
def test_a_missing_pin_uses_the_nearest_installed_above_it(ws: WorkspacePaths,
                                                          only_this_python: None) -> None:
    """python=3.(this-1).1 (not installed) runs with this Python, the nearest above it."""
    from runner.envs.interp import find_python_like_conda

    info, note = find_python_like_conda(f"3.{sys.version_info[1] - 1}.1", ws.tmp)

    assert sys.version_info[:2] == tuple(int(p) for p in info.version.split(".")[:2])
    assert "nearest installed version at or above it" in note


def test_conda_opt_in_without_conda_on_path(ws: WorkspacePaths, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Opting in to conda with no conda/mamba/micromamba on PATH is an error."""
    monkeypatch.setenv("PATH", str(tmp_path))
    env = _managed(conda_packages=["numpy"])
    env.python.use_conda = True
    with pytest.raises(EnvironmentSpecError, match="no conda, mamba or micromamba"):
        validate_environment(env, ws)


def test_docker_enabled_is_accepted_and_builds_the_same_environment(ws: WorkspacePaths) -> None:
    """env.docker.enabled = True validates and hashes as without Docker (no container)."""
    from runner.envs.prepare import environment_hash

    env = _managed("six")
    plain = environment_hash(env, ws)
    env.docker.enabled = True
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"

    validate_environment(env, ws)
    assert plain == environment_hash(env, ws)


def test_validate_writes_nothing_for_managed(ws: WorkspacePaths) -> None:
    """Validating a managed environment builds and writes nothing."""
    validate_environment(_managed("six"), ws)
    assert [] == list(ws.runner_dir.iterdir())


def test_hash_ignores_name_version_order_and_variables(ws: WorkspacePaths) -> None:
    """The cache key covers what is installed, not the name, version, order or variables."""
    a = _managed("six", "packaging")
    b = _managed("packaging", "six")
    b.name, b.version, b.environment_variables = "other", "5", {"X": "1"}
    assert environment_hash(a, ws) == environment_hash(b, ws)
    assert environment_hash(a, ws) != environment_hash(_managed("six"), ws)


def test_hash_follows_requirement_file_content(ws: WorkspacePaths, tmp_path: Path) -> None:
    """Editing a referenced requirements file changes the cache key."""
    req = tmp_path / "r.txt"
    req.write_text("six\n")
    env = _managed()
    env.python.conda_dependencies.set_pip_option(f"-r {req}")
    before = environment_hash(env, ws)
    req.write_text("six==1.16.0\n")
    assert before != environment_hash(env, ws)


def test_hash_is_none_for_user_managed(ws: WorkspacePaths) -> None:
    """A user-managed environment has no cache key."""
    assert environment_hash(_user_managed(sys.executable), ws) is None


def test_redact_env_vars() -> None:
    """Values of secret-looking names are replaced by ***; others are kept."""
    assert {"HF_TOKEN": "***", "aws_secret_access_key": "***", "DB_PASSWORD": "***",
            "API_KEY": "***", "MODE": "fast"} == redact_env_vars(
        {"HF_TOKEN": "t", "aws_secret_access_key": "s", "DB_PASSWORD": "p", "API_KEY": "k",
         "MODE": "fast"})


def test_resolved_to_dict_redacts() -> None:
    """ResolvedEnvironment.to_dict() is JSON-ready and redacts secrets."""
    resolved = ResolvedEnvironment("/py", {"MY_TOKEN": "x", "A": "b"}, None, False, None, False)
    assert {"MY_TOKEN": "***", "A": "b"} == json.loads(json.dumps(resolved.to_dict()))["env_vars"]


def test_prepare_none_uses_sys_executable(ws: WorkspacePaths, tmp_path: Path) -> None:
    """prepare_environment(None) is the submitting interpreter, unmanaged, said in the log."""
    log_path = tmp_path / "env_build.txt"
    with open(log_path, "wb") as log:
        resolved = prepare_environment(None, ws, log)
    assert ResolvedEnvironment(sys.executable, {}, None, False, None, False) == resolved
    assert sys.executable in log_path.read_text()


def test_prepare_user_managed_keeps_variables(ws: WorkspacePaths) -> None:
    """A user-managed environment runs its interpreter with its variables."""
    env = _user_managed(sys.executable)
    env.environment_variables = {"A": "1"}
    resolved = prepare_environment(env.to_dict(), ws, None)
    assert (sys.executable, {"A": "1"}, False) == (resolved.python, resolved.env_vars,
                                                   resolved.managed)


@pytest.mark.parametrize("name", ["minimal", "sklearn"])
def test_curated_environments_validate(ws: WorkspacePaths, name: str) -> None:
    """Every curated environment passes submit-time validation and has a cache key."""
    env = Environment.get(ws, name)
    validate_environment(env, ws)
    assert 32 == len(environment_hash(env, ws))


def test_pip_configuration_translates_to_uv(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's config file and PIP_* variables become uv flags; the spec's own options win."""
    from runner.envs.build import uv_args_from_pip_settings, uv_env_from_pip_settings

    for name in list(os.environ):
        if name.startswith("PIP_") or name in ("SSL_CERT_FILE", "HTTPS_PROXY", "HTTP_PROXY",
                                                "https_proxy", "http_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "sys"))
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://a.invalid/simple\n"
                    "extra-index-url = https://b.invalid/simple https://c.invalid/simple\n"
                    "cert = /etc/my-ca.pem\n[install]\nfind-links = /wheels\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_CONSTRAINT", "/c.txt")
    assert ["--index-url", "https://a.invalid/simple",
            "--extra-index-url", "https://b.invalid/simple",
            "--extra-index-url", "https://c.invalid/simple",
            "-f", "/wheels", "-c", "/c.txt"] == uv_args_from_pip_settings([])
    assert ["-f", "/wheels", "-c", "/c.txt"] == uv_args_from_pip_settings(["--no-index"])
    assert {"SSL_CERT_FILE": "/etc/my-ca.pem"} == uv_env_from_pip_settings()
