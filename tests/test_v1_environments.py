"""Environments as Azure ML v1 material writes them: Azure's curated names, conda packages,
python pins, and azureml-* packages that must never replace runner's azureml."""

from __future__ import annotations

import os
import sys

import pytest

from runner import CondaDependencies, Environment, Experiment, RunConfiguration, ScriptRunConfig
from runner.api import notices


@pytest.fixture(autouse=True)
def _fresh_notices():
    notices.reset()
    yield
    notices.reset()


@pytest.mark.parametrize("name,runner_name", [
    ("AzureML-Minimal", "minimal"),
    ("azureml-minimal", "minimal"),
    ("AzureML-Tutorial", "sklearn"),
    ("AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "sklearn"),
    ("azureml-sklearn-1.5", "sklearn"),
    ("AzureML-PyTorch-1.6-CPU", "pytorch-cpu"),
])
def test_azure_curated_names_map_to_runner_definitions_of_the_same_intent(ws, name, runner_name):
    """A curated Azure name (any case) is runner's curated definition, named as Azure names it."""
    env = Environment.get(ws, name)
    ours = Environment.get(ws, runner_name)

    assert ours.python.conda_dependencies.pip_packages == \
        env.python.conda_dependencies.pip_packages
    assert name.lower() == env.name.lower()
    assert f"runner's curated environment {runner_name!r}" in env.maps_to


def test_a_family_runner_has_no_definition_for_is_built_from_its_packages(ws):
    """AzureML-lightgbm-3.2-... installs lightgbm and its companions, unpinned, and says so."""
    env = Environment.get(ws, "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu", version="3")

    assert "lightgbm" in env.python.conda_dependencies.pip_packages
    assert "unpinned" in env.maps_to
    assert "Version 3 is not kept" in env.maps_to


def test_get_prints_what_a_curated_name_maps_to(ws, capfd):
    """Environment.get(ws, 'AzureML-Minimal') prints one notice naming the mapping."""
    Environment.get(ws, "AzureML-Minimal")

    assert "'AzureML-Minimal' maps to runner's curated environment 'minimal'" in \
        capfd.readouterr().err


def test_list_shows_azure_curated_names_with_their_mapping(ws):
    """Environment.list(ws) holds Azure's curated names as well as runner's."""
    found = Environment.list(ws)

    assert {"AzureML-Minimal", "AzureML-sklearn-1.5", "minimal", "sklearn"} <= set(found)
    assert "minimal" in found["AzureML-Minimal"].maps_to


def test_registered_versions_are_returned_by_version(ws):
    """env.register(ws) twice with changes gives versions 1 and 2, each retrievable."""
    env = Environment("mine")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"])
    first = env.register(ws)
    env.python.conda_dependencies.add_pip_package("packaging")
    second = env.register(ws)

    assert ("1", "2") == (first.version, second.version)
    assert ["six"] == Environment.get(ws, "mine", version="1").python.conda_dependencies \
        .pip_packages
    assert "2" == Environment.get(ws, "mine").version


@pytest.mark.slow
def test_conda_packages_without_conda_run_through_pip_with_one_notice(ws, tmp_path, capfd,
                                                                      monkeypatch):
    """A run whose environment lists conda packages (no conda on PATH) installs them with pip,
    and its build log says what was left out."""
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.path.dirname(sys.executable)}")
    (tmp_path / "train.py").write_text("import six\nprint('six', six.__version__)\n")
    rc = RunConfiguration(conda_dependencies=CondaDependencies.create(
        conda_packages=["six", "pip", "cudatoolkit=11.8"], python_version="3.6.2"))
    src = ScriptRunConfig(str(tmp_path), "train.py", run_config=rc)

    run = Experiment(ws, "conda").submit(src)
    run.wait_for_completion(raise_on_error=False)

    err = capfd.readouterr().err
    build_log = (run.folder / "logs" / "env_build.txt").read_text()
    assert "Completed" == run.get_status(), build_log
    assert 1 == err.count("installed with pip")
    assert "left out: cudatoolkit" in build_log
    assert "Python 3.6.2 is older than runner supports" in build_log


def test_conda_packages_are_built_with_conda_when_one_is_on_path(ws, fake_conda):
    """With micromamba on PATH, conda packages make a conda environment (no opt-in needed)."""
    from runner.envs.cache import lookup
    from runner.envs.prepare import prepare_environment

    env = Environment("conda")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["numpy=1.26"],
                                                             python_version="3.11")

    resolved = prepare_environment(env, ws.paths, None)

    assert "python=3.11 pip numpy=1.26" in fake_conda.read_text()
    assert "conda" == lookup(ws.paths, resolved.env_hash).record["builder"]
