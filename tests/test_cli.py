"""The ``runner`` command line: every command's output, and errors as exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runner import Experiment, Run, Workspace
from runner.cli import main as _cli
from runner.cli.main import cli


def invoke(ws: Workspace | None, *args: str) -> Result:
    """Run ``runner [--workspace WS] ARGS`` in-process, through the real error boundary."""
    prefix = ["--workspace", str(ws.root)] if ws is not None else []
    return CliRunner().invoke(cli, [*prefix, *args])


def finished_run(exp: Experiment, **kwargs) -> Run:
    """A run started in this process, left Running (complete or fail it yourself)."""
    return exp.start_logging(snapshot_directory=None, outputs=False, **kwargs)


@pytest.fixture
def run(exp: Experiment, tmp_path: Path) -> Run:
    """A completed run with scalars, a long list, a table, tags and one uploaded file."""
    run = finished_run(exp, display_name="first try")
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log("acc", 0.9)
    for i in range(20):
        run.log("lr", 0.1 / (i + 1))
    run.log_row("table", epoch=1, val=0.3)
    run.log_row("table", epoch=2, val=0.2)
    run.set_tags({"team": "vision", "best": None})
    source = tmp_path / "model.txt"
    source.write_text("weights")
    run.upload_file("outputs/model.txt", source)
    run.upload_file("notes/readme.md", source)
    run.complete()
    return run


def fields(text: str) -> dict[str, str]:
    """The ``Label:   value`` lines of `runner show` as a dict."""
    out = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            out[label] = value.strip()
    return out


def one_error_line(result: Result) -> str:
    """The single line a failing command printed to stderr."""
    lines = result.stderr.splitlines()
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("runner: error: ")
    return lines[0]


# ------------------------------------------------------------------------------ init


def test_init_creates_a_workspace_and_says_where(tmp_path: Path):
    """`runner init PATH` makes PATH/.runner and prints the folder."""
    target = tmp_path / "project"
    result = invoke(None, "init", str(target))
    assert 0 == result.exit_code, result.output
    assert (target / ".runner" / "config.yaml").is_file()
    assert str(target) in result.stdout


def test_init_defaults_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`runner init` with no path makes the workspace in the current folder."""
    monkeypatch.chdir(tmp_path)
    result = invoke(None, "init")
    assert 0 == result.exit_code, result.output
    assert (tmp_path / ".runner").is_dir()


def test_init_on_a_workspace_says_it_is_one(ws: Workspace):
    """`runner init` on an existing workspace succeeds and says so."""
    result = invoke(None, "init", str(ws.root))
    assert 0 == result.exit_code
    assert "is a workspace already" in result.stdout


# ----------------------------------------------------------------------- experiments


def test_experiments_lists_counts_by_status(exp: Experiment):
    """`runner experiments` shows each experiment with its runs counted by status."""
    finished_run(exp).complete()
    finished_run(exp).fail("no")
    result = invoke(exp.workspace, "experiments")
    assert 0 == result.exit_code, result.output
    line = result.stdout.splitlines()[1]
    assert line.startswith("test ")
    assert "1 Completed, 1 Failed" in line


def test_experiments_json_parses(exp: Experiment):
    """`runner experiments --json` prints one JSON list of experiments."""
    finished_run(exp).complete()
    result = invoke(exp.workspace, "experiments", "--json")
    assert 0 == result.exit_code
    [item] = json.loads(result.stdout)
    assert {"name": "test", "runs": 1, "statuses": {"Completed": 1}} == {
        k: item[k] for k in ("name", "runs", "statuses")}
    assert item["last_activity"].endswith("Z")


def test_experiments_in_an_empty_workspace_says_none(ws: Workspace):
    """`runner experiments` in a new workspace says there are none yet."""
    result = invoke(ws, "experiments")
    assert 0 == result.exit_code
    assert "No experiments yet" in result.stdout


# ------------------------------------------------------------------------------ runs


def test_runs_lists_newest_first_with_last_metric_values(run: Run, exp: Experiment):
    """`runner runs` shows one row per run, newest first, with last scalar values."""
    newer = finished_run(exp)
    newer.complete()
    result = invoke(exp.workspace, "runs")
    assert 0 == result.exit_code, result.output
    header, first, second = result.stdout.splitlines()
    assert header.split()[:3] == ["RUN", "ID", "EXPERIMENT"]
    assert first.startswith(newer.id)
    assert second.startswith(run.id)
    assert "Completed" in second
    assert "first try" in second
    assert "acc=0.9" in second and "loss=0.25" in second


def test_runs_json_is_one_document_with_metrics(run: Run):
    """`runner runs --json` prints a JSON list whose items carry times and last metrics."""
    result = invoke(run.experiment.workspace, "runs", "--json")
    assert 0 == result.exit_code
    [item] = json.loads(result.stdout)
    assert run.id == item["id"]
    assert "Completed" == item["status"]
    assert {"loss": 0.25, "acc": 0.9, "lr": 0.1 / 20} == item["metrics"]
    assert item["start_time"].endswith("Z")
    assert item["duration_seconds"] >= 0


def test_runs_json_writes_nan_as_a_string(exp: Experiment):
    """`--json` stays strict JSON: a NaN metric is written as the string "NaN"."""
    r = finished_run(exp)
    r.log("x", float("nan"))
    r.complete()
    result = invoke(exp.workspace, "runs", "--json")
    assert "NaN" == json.loads(result.stdout)[0]["metrics"]["x"]


def test_runs_filters_by_experiment_status_tag_and_limit(exp: Experiment):
    """--experiment, --status (any case), --tag KEY, --tag KEY=VALUE and --limit filter."""
    ws = exp.workspace
    done = finished_run(exp, tags={"team": "a", "best": None})
    done.complete()
    failed = finished_run(exp, tags={"team": "b"})
    failed.fail("no")
    other = finished_run(Experiment(ws, "other"))
    other.complete()

    def ids(*args: str) -> list[str]:
        result = invoke(ws, "runs", "--json", *args)
        assert 0 == result.exit_code, result.output
        return [item["id"] for item in json.loads(result.stdout)]

    assert [other.id] == ids("--experiment", "other")
    assert [failed.id] == ids("--status", "FAILED")
    assert [done.id] == ids("--tag", "best")
    assert [failed.id] == ids("--tag", "team=b")
    assert [done.id] == ids("--tag", "team=a", "--tag", "best")
    assert [other.id] == ids("--limit", "1")


def test_runs_includes_children_with_all(run: Run):
    """Child runs are left out of `runner runs` unless --all is given."""
    child = run.child_run("child")
    child.complete()
    ws = run.experiment.workspace
    plain = json.loads(invoke(ws, "runs", "--json").stdout)
    everything = json.loads(invoke(ws, "runs", "--json", "--all").stdout)
    assert [run.id] == [item["id"] for item in plain]
    assert {run.id, child.id} == {item["id"] for item in everything}


def test_runs_reports_a_run_whose_owner_died_as_failed(exp: Experiment, python: str):
    """A Running run whose owner process is gone is listed (and filtered) as Failed."""
    dead = subprocess.Popen([python, "-c", "pass"])
    dead.wait()
    exp.workspace.store.insert_run(
        "orphan", "test", type="interactive", status="Running", created=1.0,
        start_time=1.0, owner_pid=dead.pid, owner_start=1.0,
    )
    result = invoke(exp.workspace, "runs", "--status", "failed", "--json")
    assert 0 == result.exit_code, result.output
    assert [("orphan", "Failed")] == [(i["id"], i["status"]) for i in json.loads(result.stdout)]


def test_runs_in_an_empty_workspace_says_none(ws: Workspace):
    """`runner runs` with no runs says so instead of printing an empty table."""
    result = invoke(ws, "runs")
    assert 0 == result.exit_code
    assert "No runs yet" in result.stdout


def test_runs_rejects_an_unknown_status(ws: Workspace):
    """An unknown --status is a usage error (exit 2) that lists the statuses."""
    result = invoke(ws, "runs", "--status", "done")
    assert 2 == result.exit_code
    assert "Completed" in one_error_line(result)


def test_runs_rejects_a_tag_without_a_key(ws: Workspace):
    """`--tag =x` is a click usage error, exit 2."""
    result = invoke(ws, "runs", "--tag", "=x")
    assert 2 == result.exit_code
    assert "--tag" in result.stderr


# ------------------------------------------------------------------------------ show


def test_show_renders_the_details_of_a_run(run: Run):
    """`runner show` prints status, times, tags, files and the display name."""
    result = invoke(run.experiment.workspace, "show", run.id)
    assert 0 == result.exit_code, result.output
    shown = fields(result.stdout)
    assert run.id == shown["Run"]
    assert "Completed" == shown["Status"]
    assert "first try" == shown["Display name"]
    assert "best, team=vision" == shown["Tags"]
    assert shown["Files"].startswith("2 ")
    assert shown["Duration"].endswith("s")


def test_show_renders_definition_failure_and_log_files(ws: Workspace):
    """A failed submitted run shows its script, arguments, exit code, error and logs."""
    ws.store.insert_run(
        "sub-1", "test", type="script", status="Failed", created=10.0, start_time=11.0,
        end_time=75.0, exit_code=3, snapshot_id="snap-1",
        definition={"script": "train.py", "arguments": ["--alpha", 0.5, "a b"]},
        error={"error": {"code": "UserError", "message": "User program failed with exit "
                         "code 3.", "details": "Traceback ...\nValueError: bad"}},
    )
    logs = ws.paths.run_dir("sub-1") / "logs"
    logs.mkdir(parents=True)
    (logs / "std_log.txt").write_text("hello\n")
    result = invoke(ws, "show", "sub-1")
    assert 0 == result.exit_code, result.output
    shown = fields(result.stdout)
    assert "train.py" == shown["Script"]
    assert "--alpha 0.5 'a b'" == shown["Arguments"]
    assert "3" == shown["Exit code"]
    assert "1m04s" == shown["Duration"]
    assert "User program failed with exit code 3. [UserError]" == shown["Error"]
    assert "snap-1" == shown["Snapshot"]
    assert "logs/std_log.txt" == shown["Log files"]
    assert result.stdout.endswith("Error details:\n    Traceback ...\n    ValueError: bad\n")


def test_show_json_is_get_details(run: Run):
    """`runner show --json` prints exactly what get_details() returns."""
    result = invoke(run.experiment.workspace, "show", run.id, "--json")
    assert 0 == result.exit_code
    assert json.loads(json.dumps(run.get_details())) == json.loads(result.stdout)


# --------------------------------------------------------------------------- metrics


def test_metrics_renders_scalars_lists_and_tables(run: Run):
    """Scalars are bare, short lists inline, long lists summarized, tables as columns."""
    result = invoke(run.experiment.workspace, "metrics", run.id)
    assert 0 == result.exit_code, result.output
    lines = result.stdout.splitlines()
    assert "acc    0.9" in lines
    assert "loss   [0.5, 0.25]" in lines
    assert "lr     20 values, last=0.005, min=0.005, max=0.1" in lines
    assert ["table:", "  epoch  val", "  1      0.3", "  2      0.2"] == \
        lines[lines.index("table:"):]


def test_metrics_name_shows_one_metric_in_full(run: Run):
    """`--name` shows only that metric, with every value of a list."""
    result = invoke(run.experiment.workspace, "metrics", run.id, "--name", "lr")
    assert 0 == result.exit_code
    lines = result.stdout.splitlines()
    assert 21 == len(lines)
    assert lines[0].startswith("lr: 20 values")


def test_metrics_json_is_get_metrics(run: Run):
    """`runner metrics --json` prints get_metrics() as one JSON document."""
    result = invoke(run.experiment.workspace, "metrics", run.id, "--json")
    assert 0 == result.exit_code
    assert run.get_metrics() == json.loads(result.stdout)


def test_metrics_of_an_unknown_name_is_not_found(run: Run):
    """`--name` of a metric the run does not have exits 4 and lists the ones it has."""
    result = invoke(run.experiment.workspace, "metrics", run.id, "--name", "nope")
    assert 4 == result.exit_code
    assert "acc, loss, lr, table" in one_error_line(result)


def test_metrics_of_a_run_without_any_says_so(exp: Experiment):
    """A run with no metrics prints a sentence, not an empty table."""
    r = finished_run(exp)
    r.complete()
    result = invoke(exp.workspace, "metrics", r.id)
    assert 0 == result.exit_code
    assert "has no metrics" in result.stdout


# ------------------------------------------------------------------- files, download


def test_files_lists_the_run_files(run: Run):
    """`runner files` prints one file name a line; `--json` a JSON list."""
    ws = run.experiment.workspace
    result = invoke(ws, "files", run.id)
    assert 0 == result.exit_code
    assert ["notes/readme.md", "outputs/model.txt"] == result.stdout.splitlines()
    assert ["notes/readme.md", "outputs/model.txt"] == \
        json.loads(invoke(ws, "files", run.id, "--json").stdout)


def test_download_one_file_into_a_new_folder(run: Run, tmp_path: Path):
    """`runner download RUN NAME -o DIR` creates DIR and writes the file there."""
    out = tmp_path / "out" / "deep"
    result = invoke(run.experiment.workspace, "download", run.id, "outputs/model.txt",
                    "-o", str(out))
    assert 0 == result.exit_code, result.output
    assert "weights" == (out / "model.txt").read_text()
    assert str(out / "model.txt") == result.stdout.strip()


def test_download_everything_keeps_the_names(run: Run, tmp_path: Path):
    """`runner download RUN -o DIR` writes every file under its name."""
    result = invoke(run.experiment.workspace, "download", run.id, "-o", str(tmp_path / "all"))
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "all" / "outputs" / "model.txt").is_file()
    assert (tmp_path / "all" / "notes" / "readme.md").is_file()


def test_download_a_folder_name_downloads_its_files(run: Run, tmp_path: Path):
    """A NAME that is a folder of the run downloads the files under it."""
    result = invoke(run.experiment.workspace, "download", run.id, "outputs", "-o",
                    str(tmp_path))
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "outputs" / "model.txt").is_file()
    assert not (tmp_path / "notes").exists()


def test_download_defaults_to_the_current_folder(run: Run, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Without -o the file is written into the current folder."""
    monkeypatch.chdir(tmp_path)
    result = invoke(run.experiment.workspace, "download", run.id, "notes/readme.md")
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "readme.md").is_file()


def test_download_of_a_missing_file_is_not_found(run: Run, tmp_path: Path):
    """Downloading a name the run does not have exits 4 and names the file."""
    result = invoke(run.experiment.workspace, "download", run.id, "outputs/nope.bin",
                    "-o", str(tmp_path))
    assert 4 == result.exit_code
    assert "'outputs/nope.bin'" in one_error_line(result)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("command", ["show", "metrics", "files", "download"])
def test_an_unknown_run_id_is_one_line_and_exit_4(ws: Workspace, command: str):
    """Every command given an unknown run id prints one line and exits 4."""
    result = invoke(ws, command, "no-such-run")
    assert 4 == result.exit_code
    assert "no run 'no-such-run'" in one_error_line(result)
    assert "" == result.stdout


def test_no_workspace_found_says_runner_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Outside any workspace, commands exit 4 and say to run `runner init`."""
    monkeypatch.delenv("RUNNER_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke(None, "runs")
    assert 4 == result.exit_code
    assert "`runner init`" in one_error_line(result)


def test_runner_workspace_variable_names_the_workspace(run: Run, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    """RUNNER_WORKSPACE is used when --workspace is not given."""
    monkeypatch.setenv("RUNNER_WORKSPACE", str(run.experiment.workspace.root))
    monkeypatch.chdir(tmp_path)
    result = invoke(None, "runs", "--json")
    assert 0 == result.exit_code, result.output
    assert [run.id] == [item["id"] for item in json.loads(result.stdout)]


def test_a_workspace_option_that_is_no_workspace_is_exit_4(tmp_path: Path):
    """--workspace naming a folder without .runner/ exits 4 and says how to make one."""
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "runs"])
    assert 4 == result.exit_code
    line = one_error_line(result)
    assert "is not a workspace" in line
    assert f"runner init {tmp_path}" in line


def test_an_unparsable_config_is_reported_with_its_line(ws: Workspace):
    """A config.yaml that is not YAML makes `runner runs` exit 3, naming the line."""
    ws.paths.config.write_text("max_concurrent_runs: 2\nsnapshot_max_files: [1,\n")
    result = invoke(ws, "runs")
    assert 3 == result.exit_code
    line = one_error_line(result)
    assert "config.yaml is not valid YAML at line" in line


def test_an_unknown_config_key_is_reported_by_name(ws: Workspace,
                                                   monkeypatch: pytest.MonkeyPatch):
    """A config.yaml with an unknown key makes `runner runs` exit 3, naming the key."""
    ws.paths.config.write_text("max_concurent_runs: 2\n")
    monkeypatch.setenv("RUNNER_WORKSPACE", str(ws.root))
    result = invoke(None, "runs")
    assert 3 == result.exit_code
    assert "unknown setting 'max_concurent_runs'" in one_error_line(result)


def test_traceback_option_adds_the_stack(ws: Workspace):
    """With --traceback the stack is printed before the one error line."""
    result = CliRunner().invoke(cli, ["--traceback", "--workspace", str(ws.root), "show", "x"])
    assert 4 == result.exit_code
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1].startswith("runner: error: no run 'x'")


def test_an_unexpected_failure_is_one_line_and_exit_1(ws: Workspace,
                                                    monkeypatch: pytest.MonkeyPatch):
    """A bug (not a RunnerError) still prints one line, and exits 1."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("runner.api.experiment.list_runs", broken)
    result = invoke(ws, "runs")
    assert 1 == result.exit_code
    assert "unexpected ZeroDivisionError: oops" in one_error_line(result)


def test_ctrl_c_exits_130(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    """An interrupted command exits 130 (128 + SIGINT) without a stack."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("runner.api.experiment.list_runs", interrupted)
    result = invoke(ws, "runs")
    assert 130 == result.exit_code
    assert "Traceback" not in result.stderr


def test_a_click_usage_mistake_exits_2_with_clicks_message(ws: Workspace):
    """An unknown option is click's usage error: its message, exit 2."""
    result = invoke(ws, "runs", "--bogus")
    assert 2 == result.exit_code
    assert "Error: No such option" in result.stderr
    assert "--bogus" in result.stderr


def test_help_exits_0(ws: Workspace):
    """`runner --help` lists the commands and exits 0."""
    result = invoke(ws, "--help")
    assert 0 == result.exit_code
    for command in ("init", "experiments", "runs", "show", "metrics", "files", "download"):
        assert f"  {command} " in result.stdout


# ------------------------------------------------------------------ extra commands


def test_a_missing_command_module_is_refused_by_name(monkeypatch: pytest.MonkeyPatch):
    """A command module that is not installed makes `runner` fail with exit 1, naming it."""
    monkeypatch.setattr(_cli, "_EXTRA_COMMAND_MODULES",
                        ("runner.cli.submit", "runner.cli.not_installed"))
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    monkeypatch.setattr(cli, "_extras_loaded", False, raising=False)
    result = invoke(None, "--help")
    assert 1 == result.exit_code
    line = one_error_line(result)
    assert "runner.cli.not_installed is missing" in line
    assert "reinstall" in line


def test_every_built_in_command_module_is_installed(python: str):
    """`runner --help` in a fresh process lists the commands of every command module."""
    done = subprocess.run([python, "-m", "runner", "--help"], capture_output=True, text=True,
                          env=_env_without_runner_vars(), timeout=60)
    assert 0 == done.returncode, done.stderr
    for command in ("submit", "cancel", "env", "studio", "server"):
        assert f"  {command} " in done.stdout


def test_an_extra_module_with_a_broken_import_fails_loudly(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """A missing module imported by an extra command module is not mistaken for it."""
    (tmp_path / "cli_ext_broken.py").write_text("import no_such_module_for_runner_tests\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_cli, "_EXTRA_COMMAND_MODULES", ("cli_ext_broken",))
    with pytest.raises(ModuleNotFoundError, match="no_such_module_for_runner_tests"):
        _cli._register_extra_commands()
    monkeypatch.delitem(sys.modules, "cli_ext_broken", raising=False)


def test_an_extra_module_adds_its_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The commands an extra module lists in COMMANDS become `runner` commands."""
    (tmp_path / "cli_ext_hello.py").write_text(textwrap.dedent("""
        import click

        @click.command()
        def hello():
            click.echo("hello from an extension")

        COMMANDS = [hello]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_cli, "_EXTRA_COMMAND_MODULES", ("cli_ext_hello",))
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    _cli._register_extra_commands()
    monkeypatch.delitem(sys.modules, "cli_ext_hello")
    result = invoke(None, "hello")
    assert 0 == result.exit_code
    assert "hello from an extension\n" == result.stdout


# -------------------------------------------------------------------- subprocesses


def _env_without_runner_vars() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}


def test_python_m_runner_runs_json(run: Run, python: str):
    """`python -m runner runs --json` works in a fresh process."""
    done = subprocess.run(
        [python, "-m", "runner", "--workspace", str(run.experiment.workspace.root), "runs",
         "--json"],
        capture_output=True, text=True, env=_env_without_runner_vars(), timeout=60,
    )
    assert 0 == done.returncode, done.stderr
    assert [run.id] == [item["id"] for item in json.loads(done.stdout)]


def test_console_script_reports_failures_with_exit_codes(ws: Workspace, python: str):
    """The installed `runner` script lists runs, and exits 4 with one line for a bad id."""
    script = Path(python).with_name("runner")
    command = str(script) if script.exists() else shutil.which("runner")
    assert command, "the runner console script is not installed (pip install -e .)"
    env = dict(_env_without_runner_vars(), RUNNER_WORKSPACE=str(ws.root))
    listed = subprocess.run([command, "runs"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert 0 == listed.returncode, listed.stderr
    assert "No runs yet" in listed.stdout
    failed = subprocess.run([command, "show", "nope"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert 4 == failed.returncode
    assert ["runner: error: no run 'nope'"] == [
        line[: len("runner: error: no run 'nope'")] for line in failed.stderr.splitlines()]


def test_importing_the_cli_loads_no_heavy_modules(python: str):
    """`import runner.cli.main` loads click but not psutil, yaml, watchdog or the store."""
    code = (
        "import sys, runner.cli.main; "
        "print(sorted(m for m in ('psutil', 'yaml', 'watchdog', 'virtualenv', "
        "'runner.store.db', 'runner.api.run', 'runner.api.experiment', 'sqlite3') "
        "if m in sys.modules))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                          env=_env_without_runner_vars(), timeout=60)
    assert 0 == done.returncode, done.stderr
    assert "[]" == done.stdout.strip()


def test_studio_and_server_default_to_different_ports():
    """`runner studio` defaults to 8765 and `runner server` to 8766, so both can run."""
    from runner.server.running import DEFAULT_PORT, serve
    from runner.studio.server import DEFAULT_PORT as STUDIO_PORT

    defaults = {name: next(p.default for p in cli.get_command(None, name).params
                           if p.name == "port")
                for name in ("studio", "server")}
    assert {"studio": 8765, "server": 8766} == defaults
    assert (8765, 8766, 8766) == (STUDIO_PORT, DEFAULT_PORT,
                                  serve.__defaults__[1])
