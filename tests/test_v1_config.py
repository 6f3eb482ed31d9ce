"""v1 drivers' run configuration, compute targets and workspace attributes mean something
here: a default environment, Docker flags that run without Docker, cluster names that run
locally, and every unsupported field refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetNotFound,
    CondaDependencies,
    DockerConfiguration,
    Environment,
    Experiment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    ScriptRunConfig,
    UsageError,
    Workspace,
)
from runner.api import notices
from runner.api.config import LOCAL, resolve_config


@pytest.fixture(autouse=True)
def _fresh_notices():
    notices.reset()
    yield
    notices.reset()


def _src(tmp_path: Path, **kwargs) -> ScriptRunConfig:
    (tmp_path / "train.py").write_text("print('hi')\n")
    return ScriptRunConfig(str(tmp_path), "train.py", **kwargs)


def test_run_configuration_comes_with_a_default_environment_meaning_this_interpreter(tmp_path):
    """An untouched default environment resolves to None: the submitting interpreter."""
    rc = RunConfiguration()

    assert "default-environment" == rc.environment.name
    assert resolve_config(_src(tmp_path, run_config=rc)).environment is None


def test_setting_user_managed_on_the_default_environment_is_honoured(tmp_path):
    """run_config.environment.python.user_managed_dependencies = True is the run's environment."""
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = True

    resolved = resolve_config(_src(tmp_path, run_config=rc))

    assert resolved.environment is rc.environment


def test_run_configuration_takes_conda_dependencies(tmp_path):
    """RunConfiguration(conda_dependencies=cd) is a managed environment installing cd."""
    cd = CondaDependencies.create(pip_packages=["six"])

    resolved = resolve_config(_src(tmp_path, run_config=RunConfiguration(conda_dependencies=cd)))

    assert ["six"] == resolved.environment.python.conda_dependencies.pip_packages


def test_environment_given_to_script_run_config_replaces_the_default(tmp_path):
    """An environment argument beside a run_config with the default one is no conflict."""
    env = Environment("mine")
    env.python.user_managed_dependencies = True

    resolved = resolve_config(_src(tmp_path, run_config=RunConfiguration(), environment=env))

    assert resolved.environment is env


@pytest.mark.parametrize("field,value", [("node_count", 2), ("framework", "TensorFlow"),
                                         ("communicator", "Nccl"),
                                         ("data_references", {"d": object()})])
def test_run_configuration_fields_that_would_be_ignored_are_refused_by_name(tmp_path, field,
                                                                             value):
    """node_count, framework, communicator and data fields are refused naming the field."""
    rc = RunConfiguration()
    setattr(rc, field, value)

    with pytest.raises(UsageError, match=field):
        resolve_config(_src(tmp_path, run_config=rc))


def test_resume_from_and_unknown_arguments_are_refused_by_name(tmp_path):
    """ScriptRunConfig refuses resume_from and arguments v1 never had, naming them."""
    with pytest.raises(UsageError, match="resume_from"):
        _src(tmp_path, resume_from="azureml://checkpoint")
    with pytest.raises(UsageError, match="show_output"):
        _src(tmp_path, show_output=True)
    with pytest.raises(UsageError, match="DockerConfiguration"):
        _src(tmp_path, docker_runtime_config={"use_docker": True})


def test_docker_asked_for_runs_without_docker_after_one_notice(tmp_path):
    """use_docker=True gives one notice and the Docker settings are recorded."""
    src = _src(tmp_path, docker_runtime_config=DockerConfiguration(use_docker=True))

    resolved = resolve_config(src)

    assert 1 == len(resolved.notices)
    assert "runs no containers" in resolved.notices[0]
    assert resolved.docker["useDocker"] is True


def test_environment_docker_settings_are_recorded_without_effect(tmp_path):
    """docker.enabled, base_image, base_image_registry and shared_volumes are recorded."""
    env = Environment("dockered")
    env.python.user_managed_dependencies = True
    env.docker.enabled = True
    env.docker.base_image = "myregistry.azurecr.io/train:1"
    env.docker.base_image_registry.address = "myregistry.azurecr.io"
    env.docker.base_image_registry.password = "secret"
    env.docker.shared_volumes = False

    resolved = resolve_config(_src(tmp_path, environment=env))

    assert "myregistry.azurecr.io/train:1" in resolved.notices[0]
    assert {"address": "myregistry.azurecr.io", "username": None} == \
        resolved.docker["baseImageRegistry"]
    assert resolved.docker["sharedVolumes"] is False
    assert "secret" not in repr(resolved.docker)


def test_a_submit_with_docker_prints_one_notice_and_records_the_settings(ws, tmp_path, capfd):
    """The run goes ahead without Docker; the notice is printed once; details keep docker."""
    exp = Experiment(ws, "docker")
    src = _src(tmp_path, docker_runtime_config=DockerConfiguration(use_docker=True))

    runs = [exp.submit(src), exp.submit(src)]
    for run in runs:
        run.wait_for_completion()

    assert 1 == capfd.readouterr().err.count("runs no containers")
    assert ["Completed", "Completed"] == [r.get_status() for r in runs]
    assert runs[0].get_details()["runDefinition"]["docker"]["useDocker"] is True


def test_an_unknown_cluster_name_is_refused_until_created(ws: Workspace):
    """ComputeTarget(ws, name) raises ComputeTargetNotFound for a name never created."""
    with pytest.raises(ComputeTargetNotFound, match=r"ComputeTarget\.create"):
        ComputeTarget(workspace=ws, name="cpu-cluster")


def test_provisioning_a_cluster_prints_one_notice_and_succeeds(ws: Workspace, capfd):
    """ComputeTarget.create records the name, says it runs locally, and is found later."""
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)

    target = ComputeTarget.create(ws, "cpu-cluster", config)
    target.wait_for_completion(show_output=True)
    again = ComputeTarget.create(ws, "cpu-cluster", config)

    err = capfd.readouterr().err
    assert 1 == err.count("runs on this machine")
    assert ("Succeeded", True) == (target.provisioning_state, again.runs_locally)
    assert ["cpu-cluster"] == list(ws.compute_targets)
    assert "AmlCompute" == ComputeTarget(ws, "cpu-cluster").type


def test_a_cluster_handle_or_name_as_target_runs_locally(ws: Workspace, tmp_path):
    """run_config.target = a created handle or a bare cluster name both resolve to local."""
    handle = ComputeTarget.create(ws, "gpu-cluster",
                                  AmlCompute.provisioning_configuration(vm_size="NC6"))
    by_handle = _src(tmp_path, compute_target=handle)
    by_name = _src(tmp_path)
    by_name.run_config.target = "cpu-cluster"

    resolved = [resolve_config(c, ws.config.compute_targets) for c in (by_handle, by_name)]

    assert [LOCAL, LOCAL] == [r.target for r in resolved]
    assert "'cpu-cluster' runs on this machine" in resolved[1].notices[0]


def test_cli_target_names_stay_strict(ws: Workspace, tmp_path, monkeypatch):
    """`runner submit --target typo` is an error, not a local run."""
    from click.testing import CliRunner

    from runner.cli.main import cli

    monkeypatch.setenv("RUNNER_WORKSPACE", str(ws.root))
    (tmp_path / "train.py").write_text("print(1)\n")
    result = CliRunner().invoke(cli, ["submit", "--target", "typo", "--source-dir",
                                      str(tmp_path), "train.py"])

    assert 2 == result.exit_code, result.output
    assert "typo" in result.output


def test_distributed_configs_refuse_more_than_one_node_by_name(tmp_path):
    """node_count above 1 is refused naming node_count."""
    with pytest.raises(UsageError, match="node_count"):
        resolve_config(_src(tmp_path, distributed_job_config=PyTorchConfiguration(
            process_count=2, node_count=2)))


def test_mpi_without_mpirun_is_refused_clearly(tmp_path, monkeypatch):
    """MpiConfiguration with no mpirun on PATH is refused, saying what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(UsageError, match="mpirun"):
        resolve_config(_src(tmp_path, distributed_job_config=MpiConfiguration(
            process_count_per_node=2)))


def test_v1_workspace_constructor_opens_the_local_workspace(ws: Workspace, monkeypatch,
                                                            tmp_path):
    """Workspace(subscription_id, resource_group, workspace_name) opens the local workspace
    and keeps the names for display."""
    monkeypatch.setenv("RUNNER_WORKSPACE", str(ws.root))

    v1 = Workspace("0000-sub", "my-rg", "my-ws")
    got = Workspace.get("my-ws", subscription_id="0000-sub", resource_group="my-rg")
    path = v1.write_config(path=str(tmp_path))

    assert ws.root == v1.root == got.root
    assert ("my-ws", "0000-sub", "my-rg", "local") == (
        v1.name, v1.subscription_id, v1.resource_group, v1.location)
    assert {"id": str(ws.root), "name": "my-ws", "location": "local"}.items() <= \
        v1.get_details().items()
    assert '"workspace_name": "my-ws"' in Path(path).read_text()


def test_plain_workspace_attributes_have_documented_values(ws: Workspace):
    """A workspace opened by folder: its folder name, 'local' elsewhere, dicts of its parts."""
    Experiment(ws, "one")

    assert (ws.root.name, "local", "local", "local") == (
        ws.name, ws.subscription_id, ws.resource_group, ws.location)
    assert ["one"] == list(ws.experiments)
    assert {"minimal", "sklearn"} <= set(ws.environments)
    assert {} == ws.compute_targets
    assert ws.get_mlflow_tracking_uri() == f"runner:{ws.root}"


def test_docker_on_the_default_environment_is_noticed_too(tmp_path):
    """run_config.environment.docker.enabled on an otherwise untouched default environment
    still gives the notice and is recorded; the run uses the submitting interpreter."""
    rc = RunConfiguration()
    rc.environment.docker.enabled = True

    resolved = resolve_config(_src(tmp_path, run_config=rc))

    assert resolved.environment is None
    assert resolved.docker["enabled"] is True
    assert "runs no containers" in resolved.notices[0]
