"""The Ray target without a cluster: configuration, the loopback rule, the pure mappings
(status, runtime_env, job request) and the working_dir package."""

from __future__ import annotations

import os
import socket
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from runner import (
    ConfigError,
    Environment,
    EnvironmentSpecError,
    Experiment,
    RayCluster,
    ScriptRunConfig,
    SnapshotError,
    UsageError,
    Workspace,
)
from runner.api.config import resolve_config, resolve_target
from runner.api.workconfig import config_from_dict
from runner.cli.main import cli
from runner.targets.ray_jobs import (
    ENTRYPOINT,
    PACKAGE_LIMIT,
    STATUS_MAP,
    build_snapshot_package,
    entrypoint_resources,
    job_request,
    job_spec,
    runtime_env_for,
    runtime_package,
    snapshot_package_name,
    status_from_job,
)

REMOTE = "http://head.example:8265"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- config


def test_a_configured_ray_target_becomes_a_ray_cluster():
    """compute_targets.<name> with type ray gives a RayCluster named after its key."""
    config = config_from_dict({"compute_targets": {"gpu": {
        "type": "ray", "address": REMOTE, "tracking_uri": "http://10.0.0.5:8765",
        "num_cpus": 2, "num_gpus": 1, "memory": 2**30, "installer": "uv"}}})

    target = config.compute_targets["gpu"]
    assert isinstance(target, RayCluster)
    assert ("gpu", REMOTE, "http://10.0.0.5:8765", 2, 1, 2**30, "uv") == (
        target.label, target.address, target.tracking_uri, target.num_cpus, target.num_gpus,
        target.memory, target.installer)


@pytest.mark.parametrize("entry,words", [
    ({"type": "ray", "address": REMOTE, "adress": "x"}, "adress"),
    ({"type": "ray"}, "address"),
    ({"type": "slurm", "address": REMOTE}, "slurm"),
    ({"type": "ray", "address": "head:8265"}, "http"),
    ({"type": "ray", "address": REMOTE, "num_cpus": -1}, "num_cpus"),
    ({"type": "ray", "address": REMOTE, "installer": "conda"}, "installer"),
    ({"type": "ray", "address": REMOTE, "tracking_uri": "http://127.0.0.1:8765"}, "loopback"),
    ("http://head:8265", "mapping"),
    ({"type": "ray", "address": REMOTE, "resources": {"worker": "one"}}, "resources"),
    ({"type": "ray", "address": REMOTE, "resources": ["worker"]}, "resources"),
    ({"type": "ray", "address": REMOTE, "labels": {"pool": 3}}, "labels"),
    ({"type": "ray", "address": REMOTE, "tracking_ca": "/no/such/ca.pem"}, "tracking_ca"),
    ({"type": "ray", "address": REMOTE, "upload_seconds": -5}, "upload_seconds"),
    ({"type": "ray", "address": REMOTE, "interpreter": ""}, "interpreter"),
])
def test_invalid_compute_targets_are_config_faults_naming_the_problem(entry, words):
    """Unknown keys, missing or malformed settings and unknown types are ConfigErrors."""
    with pytest.raises(ConfigError, match=words):
        config_from_dict({"compute_targets": {"ray": entry}}, source="config.yaml")


def test_local_cannot_name_a_configured_target():
    """'local' is this machine; a target of that name is refused."""
    with pytest.raises(ConfigError, match="local"):
        config_from_dict({"compute_targets": {"local": {"type": "ray", "address": REMOTE}}})


def test_compute_targets_in_config_yaml_are_validated_when_read(tmp_path: Path):
    """A bad compute_targets in config.yaml fails every command with exit code 3."""
    ws = Workspace.create(tmp_path / "ws")
    ws.paths.config.write_text("compute_targets:\n  ray:\n    type: ray\n")

    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), "runs"])

    assert 3 == result.exit_code
    assert "address" in result.output


def test_compute_target_names_resolve_through_the_workspace_targets():
    """None and 'local' are local; a configured name or a RayCluster are the target."""
    cluster = RayCluster(REMOTE)
    configured = {"ray": cluster}

    assert "local" == resolve_target(None, configured)
    assert "local" == resolve_target("local", configured)
    assert cluster is resolve_target("ray", configured)
    assert cluster is resolve_target(cluster, {})
    with pytest.raises(UsageError, match="ray"):
        resolve_target("gpu", configured)


def test_resolve_config_keeps_the_target_and_checks_resources(tmp_path: Path):
    """The resolved config carries the target and its label; resources are validated."""
    cluster = RayCluster(REMOTE, name="ray")
    config = ScriptRunConfig(str(tmp_path), "train.py", compute_target="ray")
    config.run_config.resources = {"cpu": 2, "memory": 2**30}

    resolved = resolve_config(config, {"ray": cluster})

    assert (cluster, "ray", {"cpu": 2, "memory": 2**30}) == (
        resolved.target, resolved.target_name, resolved.resources)
    config.run_config.resources = {"tpu": 1}
    with pytest.raises(UsageError, match="tpu"):
        resolve_config(config, {"ray": cluster})


def test_runner_submit_target_names_the_known_targets(tmp_path: Path):
    """`runner submit --target nope` fails with exit 2 listing the configured targets."""
    ws = Workspace.create(tmp_path / "ws")
    ws.paths.config.write_text(f"compute_targets:\n  ray:\n    type: ray\n    address: {REMOTE}\n")
    (ws.root / "train.py").write_text("print(1)\n")

    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), "submit", "--source-dir",
                                      str(ws.root), "--target", "nope", "train.py"])

    assert 2 == result.exit_code
    assert "ray" in result.output and "nope" in result.output


# ----------------------------------------------------------------------------- reachability


def test_a_loopback_tracking_uri_for_a_remote_head_is_refused():
    """The cluster's nodes could not reach 127.0.0.1 of this machine: a UsageError says so."""
    with pytest.raises(UsageError, match="loopback") as info:
        RayCluster(REMOTE, tracking_uri="http://localhost:8765")

    assert "runner server" in info.value.message


def test_a_loopback_tracking_uri_is_fine_with_a_loopback_head():
    """A head on this machine reaches a tracking server on this machine."""
    cluster = RayCluster("http://127.0.0.1:8265", tracking_uri="http://127.0.0.1:8765")

    assert "http://127.0.0.1:8765" == cluster.tracking_uri


def test_submitting_without_a_tracking_uri_writes_nothing(exp: Experiment, tmp_path: Path):
    """A target with no tracking server is a UsageError before any run row exists."""
    (tmp_path / "train.py").write_text("print(1)\n")
    config = ScriptRunConfig(str(tmp_path), "train.py",
                             compute_target=RayCluster("http://127.0.0.1:8265"))

    with pytest.raises(UsageError, match="tracking_uri"):
        exp.submit(config)

    assert [] == exp.workspace.store.query_runs()


def test_submitting_to_a_head_that_does_not_answer_writes_nothing(exp: Experiment,
                                                                  tmp_path: Path):
    """An unreachable Jobs API is a UsageError naming the address; no run is recorded."""
    (tmp_path / "train.py").write_text("print(1)\n")
    address = f"http://127.0.0.1:{_free_port()}"
    config = ScriptRunConfig(str(tmp_path), "train.py", compute_target=RayCluster(
        address, tracking_uri="http://127.0.0.1:1"))

    with pytest.raises(UsageError, match="does not answer"):
        exp.submit(config)

    assert [] == exp.workspace.store.query_runs()


def test_a_tracking_server_of_another_workspace_is_refused(tmp_path: Path):
    """The health check names the workspace the server serves."""
    pytest.importorskip("uvicorn")
    from runner.server import ServerThread
    from runner.targets.ray import check_tracking_server

    ws = Workspace.create(tmp_path / "a")
    other = Workspace.create(tmp_path / "b")
    with ServerThread(other) as srv:
        check_tracking_server(srv.url, None, other.root)
        with pytest.raises(UsageError, match="serves the workspace"):
            check_tracking_server(srv.url, None, ws.root)


# ----------------------------------------------------------------------------- mappings


def test_ray_statuses_map_to_run_statuses():
    """PENDING/RUNNING/SUCCEEDED/FAILED/STOPPED are Queued/Running/Completed/Failed/Canceled."""
    assert {"PENDING": "Queued", "RUNNING": "Running", "SUCCEEDED": "Completed",
            "FAILED": "Failed", "STOPPED": "Canceled"} == STATUS_MAP


@pytest.mark.parametrize("info,kwargs,expected", [
    ({"status": "SUCCEEDED", "driver_exit_code": 0}, {}, ("Completed", None)),
    ({"status": "STOPPED", "driver_exit_code": -15}, {"canceled": True}, ("Canceled", None)),
    ({"status": "SUCCEEDED", "driver_exit_code": 0}, {"canceled": True}, ("Completed", None)),
    ({"status": "STOPPED"}, {}, ("Canceled", "Canceled")),
    ({"status": "FAILED", "driver_exit_code": 3}, {}, ("Failed", "UserError")),
    ({"status": "FAILED", "message": "runtime_env setup failed: pip"}, {},
     ("Failed", "SystemError")),
    ({"status": "STOPPED", "driver_exit_code": -15}, {"timeout_seconds": 5},
     ("Canceled", "RunTimeout")),
])
def test_a_finished_jobs_details_decide_the_status_and_the_fault(info, kwargs, expected):
    """Status and error code follow from Ray's status, exit code and our own requests."""
    status, error = status_from_job(info, **kwargs)

    assert expected == (status, error and error["error"]["code"])


def test_the_scripts_own_exception_is_kept_with_the_exit_code():
    """An uncaught exception recorded by the wrapper is the run's error, with the exit code."""
    script_error = {"error": {"code": "UserError", "message": "User program failed with "
                                                              "ValueError: boom"}}

    status, error = status_from_job({"status": "FAILED", "driver_exit_code": 1},
                                    script_error=script_error)

    assert "Failed" == status
    assert "ValueError: boom" in error["error"]["message"]
    assert 1 == error["error"]["exitCode"]


def _env(pip=(), conda=(), options=(), user_managed=False) -> dict:
    env = Environment("e")
    env.python.user_managed_dependencies = user_managed
    data = env.to_dict()
    from runner.envs.prepare import canonical

    data = canonical(data)
    data["python"].update(pip=list(pip), conda_packages=list(conda), pip_options=list(options))
    return data


def test_managed_environments_become_runtime_env_packages():
    """pip packages go to runtime_env pip (or uv); none or user-managed need nothing."""
    assert {} == runtime_env_for(None, "pip")
    assert {} == runtime_env_for(_env(pip=["six"], user_managed=True), "pip")
    assert {"pip": {"packages": ["six==1.16.0"], "pip_check": False,
                    "pip_install_options": ["--index-url", "https://mirror/simple"]}} == \
        runtime_env_for(_env(pip=["six==1.16.0"], options=["--index-url https://mirror/simple"]),
                        "pip")
    assert {"uv": {"packages": ["six"], "uv_pip_install_options": []}} == \
        runtime_env_for(_env(pip=["six"]), "uv")


@pytest.mark.parametrize("env,words", [
    (_env(conda=["numpy"]), "conda"),
    (_env(pip=["six"], options=["-r requirements.txt"]), "file on this machine"),
])
def test_environments_the_cluster_cannot_build_are_refused(env, words):
    """conda, and pip options naming local files, are EnvironmentSpecErrors."""
    with pytest.raises(EnvironmentSpecError, match=words):
        runtime_env_for(env, "pip")


def test_the_job_request_carries_the_run_id_variables_and_resources():
    """submission_id is the run id; variables are strings; the in-run package rides in
    py_modules; the run's resources win over the target's defaults."""
    request = job_request(
        run_id="exp_1_ab", experiment="exp", package_uri="gcs://_ray_pkg_x.zip",
        runtime_uri="gcs://_ray_pkg_r.zip",
        runtime_env={"pip": {"packages": ["six"]}}, env_vars={"N": 3},
        resources={"cpu": 2, "memory": 1.5 * 2**30}, settings={"num_cpus": 1, "num_gpus": 1})

    assert ENTRYPOINT == request["entrypoint"]
    assert "exp_1_ab" == request["submission_id"]
    assert {"pip": {"packages": ["six"]}, "working_dir": "gcs://_ray_pkg_x.zip",
            "py_modules": ["gcs://_ray_pkg_r.zip"], "env_vars": {"N": "3"}} == \
        request["runtime_env"]
    assert (2, 1, int(1.5 * 2**30)) == (request["entrypoint_num_cpus"],
                                        request["entrypoint_num_gpus"],
                                        request["entrypoint_memory"])
    assert "exp_1_ab" == request["metadata"]["runner_run_id"]


@pytest.mark.parametrize("resources, settings, expected", [
    ({}, {}, {"entrypoint_num_cpus": 1}),
    ({"gpu": 2}, {}, {"entrypoint_num_cpus": 1, "entrypoint_num_gpus": 2}),
    ({"cpu": 0}, {"num_cpus": 4}, {"entrypoint_num_cpus": 0}),
    ({}, {"num_cpus": 4, "resources": {"worker": 1}, "labels": {"pool": "gpu"}},
     {"entrypoint_num_cpus": 4, "entrypoint_resources": {"worker": 1.0},
      "entrypoint_label_selector": {"pool": "gpu"}}),
])
def test_every_run_asks_for_resources_so_ray_queues_and_places_it(resources, settings,
                                                                   expected):
    """With nothing declared a run's driver asks for 1 CPU (never 0, which pins it to the
    head unaccounted); a run's cpu/gpu win; custom resources and labels pass through."""
    assert expected == entrypoint_resources(resources, settings)


def test_this_machines_python_means_the_jobs_python_on_a_cluster():
    """interpreter_path=sys.executable (as local scripts say) becomes the job's Python; any
    other user-managed interpreter is kept as a path on the cluster."""
    from runner.envs.prepare import canonical

    env = Environment("here")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    other = Environment("there")
    other.python.user_managed_dependencies = True
    other.python.interpreter_path = "/opt/conda/bin/python"

    assert "python" == job_spec({"script": "t.py"}, canonical(env), {})["interpreter"]
    assert "/opt/conda/bin/python" == \
        job_spec({"script": "t.py"}, canonical(other), {})["interpreter"]


# ----------------------------------------------------------------------------- package


def test_the_snapshot_package_is_the_same_bytes_for_the_same_snapshot(ws: Workspace,
                                                                     tmp_path: Path):
    """Two builds of one snapshot give identical zips under a name known from the snapshot
    id alone (so an unchanged snapshot is found on the cluster without building anything);
    the zip holds the snapshot's files and nothing per run."""
    from runner.snapshot.snapshots import take_snapshot

    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "train.py").write_text("print('hi')\n")
    (source / "pkg" / "data.txt").write_text("d")
    snapshot = take_snapshot(ws.paths, source)

    one = build_snapshot_package(ws.paths, snapshot.id, tmp_path / "one.zip")
    two = build_snapshot_package(ws.paths, snapshot.id, tmp_path / "two.zip")

    assert one.path.read_bytes() == two.path.read_bytes()
    assert snapshot_package_name(snapshot.id) == one.name == two.name
    assert {"train.py", "pkg/data.txt"} == {
        n for n in zipfile.ZipFile(one.path).namelist() if not n.endswith("/")}
    assert snapshot_package_name("another") != one.name


def test_the_in_run_package_holds_the_runner_without_its_server_parts(tmp_path: Path):
    """py_modules carries runner/ (no server, studio or cli), the boot file and the azureml
    compatibility modules; it is named by its bytes, so rebuilding changes nothing."""
    one = runtime_package(tmp_path / "a")
    two = runtime_package(tmp_path / "b")

    names = set(zipfile.ZipFile(one.path).namelist())
    assert {"runner/__init__.py", "runner/api/remote_run.py", "runner/targets/wrapper.py",
            "runner_job/boot.py", "runner/compat/azureml/core/run.py"} <= names
    assert [] == [n for n in names if n.startswith(("runner/server/", "runner/studio/",
                                                    "runner/cli/")) or "__pycache__" in n]
    assert one.name == two.name
    assert one.path.read_bytes() == two.path.read_bytes()


def test_a_snapshot_over_the_jobs_api_limit_is_refused_at_submit():
    """Over 100 MiB with the runner package, the SnapshotError names the limit and the fix."""
    snapshot = SimpleNamespace(id="s", bytes=PACKAGE_LIMIT - 1024)  # + zip headers: over

    with pytest.raises(SnapshotError, match="100 MiB") as info:
        RayCluster("http://127.0.0.1:8265").check_snapshot(snapshot)

    assert ".amlignore" in info.value.message
    RayCluster("http://127.0.0.1:8265").check_snapshot(SimpleNamespace(id="s", bytes=10_000))


def test_a_file_without_a_certificate_is_refused_as_tracking_ca(tmp_path: Path):
    """tracking_ca must hold a PEM certificate; the error names the file."""
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")

    with pytest.raises(UsageError, match="no PEM certificate") as info:
        RayCluster(REMOTE, tracking_ca=str(bad))

    assert str(bad) in info.value.message


def _dead_owner_run(ws: Workspace, exp: Experiment, submitted: bool) -> str:
    """A Running run on target 'ray' whose owner (a finished process) is gone."""
    import subprocess
    import time

    from runner.store import proc as _proc

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = _proc.start_time(child.pid)
    child.wait()
    run_id = f"ray_{os.urandom(4).hex()}"
    ws.store.insert_run(run_id, exp.name, type="script", status="Running", created=time.time(),
                        start_time=time.time(), owner_pid=child.pid, owner_start=started,
                        definition={"target": "ray"})
    ws.paths.run_dir(run_id).mkdir(parents=True)
    if submitted:
        ws.store.add_properties(run_id, {"runner.target": "ray", "ray.submission_id": run_id})
    return run_id


def test_a_submitted_cluster_run_whose_owner_died_stays_running(ws: Workspace,
                                                                exp: Experiment):
    """The job goes on without the owner: a reader leaves the run Running (detached), but a
    run whose owner died before submitting anything is Failed, as a local one."""
    from runner import Run

    kept = _dead_owner_run(ws, exp, submitted=True)
    lost = _dead_owner_run(ws, exp, submitted=False)

    assert "Running" == Run(exp, kept).get_status()
    assert "Failed" == Run(exp, lost).get_status()
    assert "before the job was submitted" in \
        Run(exp, lost).get_details()["error"]["error"]["message"]


def test_attach_refuses_runs_it_cannot_follow(ws: Workspace, exp: Experiment):
    """runner attach names why: not a Ray run, or its owner still follows it."""
    from runner.targets.ray_owner import attach

    local = _dead_owner_run(ws, exp, submitted=False)
    with pytest.raises(UsageError, match="not submitted to a Ray cluster"):
        attach(ws, local)
    followed = _dead_owner_run(ws, exp, submitted=True)
    from runner.store import proc as _proc

    pid, started = _proc.identity()
    ws.store.update_run(followed, owner_pid=pid, owner_start=started)
    ws.store.add_properties(followed, {"ray.address": REMOTE})
    with pytest.raises(UsageError, match="followed by its owner"):
        attach(ws, followed)


def test_a_source_too_big_for_the_jobs_api_is_refused_before_it_is_copied(tmp_path: Path):
    """check_source (called by submit before take_snapshot) measures the files a snapshot
    would take: over 100 MiB it refuses; a small source passes."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('hi')\n")
    with open(source / "data.bin", "wb") as f:  # sparse: big on paper, nothing on disk
        f.truncate(PACKAGE_LIMIT + 1)

    with pytest.raises(SnapshotError, match="100 MiB"):
        RayCluster("http://127.0.0.1:8265").check_source(source)
    (source / "data.bin").unlink()
    RayCluster("http://127.0.0.1:8265").check_source(source)
