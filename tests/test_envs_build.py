"""Rules of building and caching managed environments, with real virtualenvs.

Packages come from a local wheelhouse (``--no-index``): six, downloaded once per
session, and two tiny wheels made here (one with a console script, to prove a
renamed virtualenv still runs its scripts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner.api.environment import CondaDependencies, Environment
from runner.core.errors import EnvironmentBuildError, EnvironmentNotFound
from runner.core.paths import WorkspacePaths
from runner.envs.build import find_uv
from runner.envs.cache import list_entries, lookup, prune
from runner.envs.prepare import acquire_lease, prepare_environment, release_lease

pytestmark = pytest.mark.slow
HAS_UV = find_uv() is not None
ROOT = Path(__file__).resolve().parent.parent


def _ws(root: Path) -> WorkspacePaths:
    paths = WorkspacePaths(root)
    paths.runner_dir.mkdir(parents=True, exist_ok=True)
    return paths


def _offline_env(wheelhouse: Path, *packages: str, name: str = "offline") -> Environment:
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=list(packages))
    env.python.conda_dependencies.set_pip_option("--no-index")
    env.python.conda_dependencies.set_pip_option(f"-f {wheelhouse}")
    env.environment_variables = {"RT_MODE": "test", "RT_TOKEN": "s3cret"}
    return env


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path):
    """One pip-built environment shared by the tests that only read it."""
    paths = _ws(tmp_path_factory.mktemp("shared"))
    log_path = paths.root / "env_build.txt"
    with open(log_path, "wb") as log:
        resolved = prepare_environment(_offline_env(wheelhouse, "six==1.16.0", "rt_hello"),
                                       paths, log, builder="pip")
    return paths, resolved, log_path


def test_cold_build_from_local_wheelhouse(built) -> None:
    """A --no-index build from a wheelhouse installs the packages and records pip freeze."""
    paths, resolved, _ = built
    assert (True, False) == (resolved.managed, resolved.cache_hit)
    assert {"six==1.16.0", "rt_hello==1.0", "rt_dep==1.0"} <= set(resolved.freeze)
    assert str(paths.env_dir(resolved.env_hash) / "bin" / "python") == resolved.python
    out = subprocess.run([resolved.python, "-c", "import six, rt_hello; print(six.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    assert "1.16.0" == out.strip()


def test_build_output_is_in_the_log(built) -> None:
    """The log holds pip's own output and the installed package list."""
    _, _, log_path = built
    text = log_path.read_text()
    assert "Successfully installed" in text
    assert "rt_hello==1.0" in text


def test_renamed_virtualenv_runs_its_console_scripts(built) -> None:
    """Console scripts point at the final folder, not the temporary build folder."""
    paths, resolved, _ = built
    script = Path(resolved.python).parent / "rt-hello"
    out = subprocess.run([str(script)], capture_output=True, text=True, check=True).stdout
    assert f"hello 42 {paths.env_dir(resolved.env_hash)}" == out.strip()
    assert ".tmp" not in script.read_text().splitlines()[0]


def test_env_vars_reach_the_resolved_environment(built) -> None:
    """The environment's variables, VIRTUAL_ENV and the venv's bin on PATH are returned."""
    paths, resolved, _ = built
    assert "test" == resolved.env_vars["RT_MODE"]
    assert str(paths.env_dir(resolved.env_hash)) == resolved.env_vars["VIRTUAL_ENV"]
    assert resolved.env_vars["PATH"].startswith(str(Path(resolved.python).parent) + os.pathsep)
    assert "***" == resolved.to_dict()["env_vars"]["RT_TOKEN"]


def test_cache_hit_is_fast_and_needs_no_subprocess(built, wheelhouse: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A second prepare of the same definition (any name) is a hit that starts no process
    (its time is measured by tests/benchmarks/bench_envs.py)."""
    paths, first, _ = built

    def no_popen(*args, **kwargs):
        raise AssertionError("a cache hit must not start a process")

    monkeypatch.setattr(subprocess, "Popen", no_popen)
    env = _offline_env(wheelhouse, "rt_hello", "six==1.16.0", name="other-name")
    again = prepare_environment(env.to_dict(), paths, None)
    assert (True, first.env_hash, first.freeze) == (again.cache_hit, again.env_hash, again.freeze)


def test_unknown_package_fails_quoting_pip_and_caches_nothing(tmp_path: Path,
                                                              wheelhouse: Path) -> None:
    """A package that does not exist fails with pip's last lines and the log named; no entry."""
    paths = _ws(tmp_path)
    log_path = tmp_path / "env_build.txt"
    with open(log_path, "wb") as log, pytest.raises(EnvironmentBuildError) as info:
        prepare_environment(_offline_env(wheelhouse, "rt-no-such-package==9"), paths, log,
                            builder="pip")
    message = str(info.value)
    assert "No matching distribution found for rt-no-such-package==9" in message
    assert str(log_path) in message
    assert [] == list_entries(paths)
    assert [] == [p.name for p in paths.envs.iterdir() if p.name != ".tmp"]
    assert [] == list((paths.envs / ".tmp").iterdir())


@pytest.mark.skipif(not HAS_UV, reason="uv is not installed")
def test_uv_builder_from_wheelhouse(tmp_path: Path, wheelhouse: Path) -> None:
    """The uv builder builds the same definition, scripts relocated, freeze recorded."""
    paths = _ws(tmp_path)
    with open(tmp_path / "log.txt", "wb") as log:
        resolved = prepare_environment(_offline_env(wheelhouse, "six==1.16.0", "rt_hello"),
                                       paths, log, builder="uv")
    assert {"six==1.16.0", "rt_hello==1.0"} <= set(resolved.freeze)
    assert "uv" == lookup(paths, resolved.env_hash).record["builder"]
    script = Path(resolved.python).parent / "rt-hello"
    out = subprocess.run([str(script)], capture_output=True, text=True, check=True).stdout
    assert f"hello 42 {paths.env_dir(resolved.env_hash)}" == out.strip()


@pytest.mark.skipif(not HAS_UV, reason="uv is not installed")
def test_uv_failure_quotes_uv(tmp_path: Path, wheelhouse: Path) -> None:
    """A uv build failure quotes uv's error and leaves nothing cached."""
    paths = _ws(tmp_path)
    with pytest.raises(EnvironmentBuildError, match="rt-no-such-package"):
        prepare_environment(_offline_env(wheelhouse, "rt-no-such-package==9"), paths, None,
                            builder="uv")
    assert [] == list_entries(paths)


@pytest.mark.parametrize("builder", ["pip", pytest.param("uv", marks=pytest.mark.skipif(
    not HAS_UV, reason="uv is not installed"))])
def test_pip_configuration_is_honoured(tmp_path: Path, wheelhouse: Path, builder: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """PIP_NO_INDEX and PIP_FIND_LINKS (pip's own settings) make a plain spec build offline."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    paths = _ws(tmp_path)
    env = Environment("plain")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["rt_dep"])
    resolved = prepare_environment(env, paths, None, builder=builder)
    assert "rt_dep==1.0" in resolved.freeze


def test_empty_environment_builds(tmp_path: Path) -> None:
    """An environment without packages (the curated 'minimal') is a bare virtualenv."""
    paths = _ws(tmp_path)
    resolved = prepare_environment(Environment.get(paths, "minimal"), paths, None)
    out = subprocess.run([resolved.python, "-c", "import sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout
    assert str(paths.env_dir(resolved.env_hash)) == out.strip()


_CHILD = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    from runner.api.environment import Environment
    from runner.envs.prepare import prepare_environment
    from runner.core.paths import WorkspacePaths
    from runner.envs import build as _build
    mode, ws, wheels, go = sys.argv[1:5]
    if mode == "hang":  # install, then hang before the build completes
        real = _build._pip_install
        def hang(*args, **kwargs):
            real(*args, **kwargs)
            print("INSTALLED", flush=True)
            time.sleep(120)
        _build._pip_install = hang
    while not os.path.exists(go):
        time.sleep(0.005)
    env = Environment("concurrent")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    env.python.conda_dependencies.set_pip_option("--no-index")
    env.python.conda_dependencies.set_pip_option("-f " + wheels)
    r = prepare_environment(env, WorkspacePaths(ws), sys.stdout.buffer, builder="pip")
    print("RESULT " + json.dumps([r.env_hash, r.cache_hit]), flush=True)
""")


def _spawn(tmp_path: Path, mode: str, ws: WorkspacePaths, wheelhouse: Path,
           go: Path) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=str(ROOT)))
    return subprocess.Popen([sys.executable, str(script), mode, str(ws.root), str(wheelhouse),
                             str(go)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def test_concurrent_prepares_build_once(tmp_path: Path, wheelhouse: Path) -> None:
    """Two processes preparing the same new environment at once build it once."""
    paths = _ws(tmp_path / "ws")
    go = tmp_path / "go"
    children = [_spawn(tmp_path, "normal", paths, wheelhouse, go) for _ in range(2)]
    time.sleep(0.3)  # both are waiting at the start line
    go.touch()
    outputs = [child.communicate(timeout=90)[0] for child in children]
    results = [json.loads(line.split(" ", 1)[1]) for out in outputs
               for line in out.splitlines() if line.startswith("RESULT ")]
    assert 2 == len(results), outputs
    assert 1 == len({h for h, _ in results})
    assert [False, True] == sorted(hit for _, hit in results)
    assert 1 == sum(out.count("Successfully installed") for out in outputs)
    assert 1 == len(list_entries(paths))


def test_killed_build_is_rebuilt(tmp_path: Path, wheelhouse: Path) -> None:
    """A build killed before it completed is never used; the next prepare rebuilds it."""
    paths = _ws(tmp_path / "ws")
    go = tmp_path / "go"
    go.touch()
    child = _spawn(tmp_path, "hang", paths, wheelhouse, go)
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("INSTALLED"):
            break
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert [] == list_entries(paths)
    leftovers = list((paths.envs / ".tmp").iterdir())
    assert 1 == len(leftovers)
    env = Environment("concurrent")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    env.python.conda_dependencies.set_pip_option("--no-index")
    env.python.conda_dependencies.set_pip_option(f"-f {wheelhouse}")
    resolved = prepare_environment(env, paths, None, builder="pip")
    assert resolved.cache_hit is False
    assert "six==1.16.0" in resolved.freeze
    assert not leftovers[0].exists()


def test_prune_keeps_environments_leased_to_live_runs(tmp_path: Path) -> None:
    """prune removes unused builds but keeps one leased to a live process."""
    paths = _ws(tmp_path)
    resolved = prepare_environment(Environment.get(paths, "minimal"), paths, None,
                                   run_id="run_1", pid=os.getpid())
    assert ([], [resolved.env_hash]) == (prune(paths).removed, prune(paths).kept_in_use)
    release_lease(paths, resolved.env_hash, "run_1")
    assert [resolved.env_hash] == prune(paths, dry_run=True).removed
    assert lookup(paths, resolved.env_hash) is not None
    assert [resolved.env_hash] == prune(paths).removed
    assert lookup(paths, resolved.env_hash) is None


def test_lease_of_a_dead_process_does_not_count(tmp_path: Path) -> None:
    """A lease whose process has exited does not keep an environment."""
    paths = _ws(tmp_path)
    resolved = prepare_environment(Environment.get(paths, "minimal"), paths, None)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    acquire_lease(paths, resolved.env_hash, "run_dead", dead.pid)
    assert [resolved.env_hash] == prune(paths).removed


def test_prune_older_than_keeps_recent(tmp_path: Path) -> None:
    """prune --older-than keeps builds used more recently than that."""
    paths = _ws(tmp_path)
    resolved = prepare_environment(Environment.get(paths, "minimal"), paths, None)
    assert [] == prune(paths, older_than_days=1).removed
    old = time.time() - 3 * 86400
    os.utime(paths.env_dir(resolved.env_hash) / "last_used", (old, old))
    assert [resolved.env_hash] == prune(paths, older_than_days=2).removed


def test_acquire_lease_on_missing_environment(tmp_path: Path) -> None:
    """Leasing an environment that is not cached is EnvironmentNotFound."""
    with pytest.raises(EnvironmentNotFound, match="Prepare it again"):
        acquire_lease(_ws(tmp_path), "0" * 32, "run", os.getpid())


def test_conda_opt_in_uses_conda(tmp_path: Path, fake_conda: Path) -> None:
    """With use_conda and a conda on PATH, conda creates the environment with the packages."""
    paths = _ws(tmp_path / "ws")
    env = Environment("conda")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["numpy=1.26"],
                                                             python_version="3.11")
    env.python.conda_dependencies.add_channel("conda-forge")
    env.python.use_conda = True
    resolved = prepare_environment(env, paths, None)
    assert "create --yes --prefix" in fake_conda.read_text()
    assert "python=3.11 pip numpy=1.26 -c conda-forge" in fake_conda.read_text()
    assert "conda" == lookup(paths, resolved.env_hash).record["builder"]


def _cli(args: list[str], ws: WorkspacePaths, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from runner.cli.main import cli

    monkeypatch.setenv("RUNNER_WORKSPACE", str(ws.root))
    return CliRunner().invoke(cli, ["env", *args], catch_exceptions=True)


def test_cli_build_show_list_prune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runner env build/show/list/prune work on a curated name."""
    paths = _ws(tmp_path)
    result = _cli(["build", "minimal", "--builder", "pip"], paths, monkeypatch)
    assert 0 == result.exit_code, result.output
    assert "created virtualenv" in result.output
    assert "built in" in result.output
    result = _cli(["show", "minimal"], paths, monkeypatch)
    assert 0 == result.exit_code, result.output
    assert "installed:" in result.output and "pip==" in result.output
    result = _cli(["list"], paths, monkeypatch)
    assert 0 == result.exit_code, result.output
    minimal = next(line for line in result.output.splitlines() if line.startswith("minimal"))
    assert "curated" in minimal and "just now" in minimal
    result = _cli(["prune"], paths, monkeypatch)
    assert 0 == result.exit_code, result.output
    assert "Removed 1 environment(s)" in result.output
    assert [] == list_entries(paths)


def test_cli_build_from_file(tmp_path: Path, wheelhouse: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """runner env build FILE builds a YAML definition, streaming pip's output."""
    paths = _ws(tmp_path)
    spec = tmp_path / "env.yml"
    spec.write_text(f"name: fromfile\npython:\n  pip: [rt_dep]\n"
                    f"  pip_options: [--no-index, '-f {wheelhouse}']\n")
    result = _cli(["build", str(spec), "--builder", "pip"], paths, monkeypatch)
    assert 0 == result.exit_code, result.output
    assert "Successfully installed rt_dep-1.0" in result.output


def test_cli_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`runner env show` of an unknown name: one error line, the not-found exit code."""
    result = _cli(["show", "nope"], _ws(tmp_path), monkeypatch)
    assert EnvironmentNotFound.exit_code == result.exit_code
    assert "nope" in result.output


def test_cli_workspace_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`runner env` finds the workspace like every command: walking up, RUNNER_WORKSPACE,
    --workspace; none is an error that says how to make one."""
    from click.testing import CliRunner

    from runner.cli.main import cli

    paths = _ws(tmp_path / "proj")
    (paths.root / "a" / "b").mkdir(parents=True)
    other = _ws(tmp_path / "other")
    Environment("mine").register(other)
    monkeypatch.delenv("RUNNER_WORKSPACE", raising=False)
    monkeypatch.chdir(paths.root / "a" / "b")
    assert "mine" not in CliRunner().invoke(cli, ["env", "list"]).output
    assert "mine" in CliRunner().invoke(cli, ["--workspace", str(other.root), "env",
                                              "list"]).output
    monkeypatch.setenv("RUNNER_WORKSPACE", str(other.root))
    assert "mine" in CliRunner().invoke(cli, ["env", "list"]).output
    monkeypatch.setenv("RUNNER_WORKSPACE", str(tmp_path / "nothing"))
    result = CliRunner().invoke(cli, ["env", "list"])
    assert 4 == result.exit_code
    assert "runner init" in result.output
