"""Submitting scripts: the supervised run from Queued to its terminal status.

Every test runs real scripts in real processes under a real supervisor.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from runner import (
    Environment,
    Experiment,
    Run,
    RunFailed,
    ScriptRunConfig,
    SnapshotError,
    UsageError,
    Workspace,
)
from runner.core.errors import EnvironmentSpecError


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> dedented text) under ``folder``; return it."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def configure(ws: Workspace, **settings) -> None:
    """Write settings into the workspace's config.yaml."""
    ws.paths.config.write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
    ws._config = None


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value (or fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def no_trace(ws: Workspace) -> tuple[list, list]:
    """The run rows and run folders of a workspace."""
    return list(ws.store.query_runs(include_children=True)), list(ws.paths.runs.iterdir())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """An empty source folder."""
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


@pytest.fixture
def fast(ws: Workspace) -> Workspace:
    """A workspace with a short cancel grace and frequent resource samples."""
    configure(ws, cancel_grace_seconds=1, sample_interval_seconds=0.2)
    return ws


# --------------------------------------------------------------------------- happy paths


def test_submit_returns_a_running_run_that_completes_with_its_metrics(exp, src):
    """submit() returns before the script ends; the run completes with what it logged."""
    write(src, {"train.py": """
        import time
        from runner import Run
        run = Run.get_context()
        time.sleep(0.5)
        for i in range(3):
            run.log("loss", 1.0 / (i + 1))
        run.log("alpha", 0.5)
    """})
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    assert run.get_status() in ("Queued", "Preparing", "Running")
    details = run.wait_for_completion()
    assert "Completed" == details["status"]
    assert {"loss": [1.0, 0.5, 1 / 3], "alpha": 0.5} == run.get_metrics()
    assert run.id.startswith("test_")
    assert "script" == run.type


def test_arguments_reach_the_script_as_an_argv_list(exp, src):
    """Arguments are converted with str and passed without a shell: spaces and quotes kept."""
    write(src, {"args.py": """
        import json, os, sys
        os.makedirs("outputs", exist_ok=True)
        json.dump(sys.argv[1:], open("outputs/argv.json", "w"))
    """})
    run = exp.submit(ScriptRunConfig(src, "args.py",
                                     arguments=["--alpha", 0.5, "a b", 'q"uote', "$HOME"]))
    run.wait_for_completion()
    run.download_file("outputs/argv.json", src.parent / "argv.json")
    assert ["--alpha", "0.5", "a b", 'q"uote', "$HOME"] == json.loads(
        (src.parent / "argv.json").read_text())


def test_command_replaces_script_and_arguments(exp, src):
    """A command list runs as given, with a leading 'python' meaning the run's interpreter."""
    write(src, {"hello.py": "import sys; print('hi', sys.argv[1])\n"})
    run = exp.submit(ScriptRunConfig(src, command=["python", "hello.py", "there"]))
    run.wait_for_completion()
    assert "hi there" in (run.folder / "logs" / "std_log.txt").read_text()


def test_the_script_runs_in_a_filtered_copy_and_never_writes_the_source(exp, src, ws):
    """The script's folder is a copy: ignored files are absent and the source is untouched."""
    write(src, {
        ".amlignore": "data/\n",
        "data/big.csv": "1,2,3\n",
        "train.py": """
            import os
            assert not os.path.exists("data"), "ignored folder present at run time"
            try:  # a read-only hard link to the snapshot, or a private copy (root)
                with open(__file__, "a") as f:
                    f.write("# changed by the run\\n")
            except PermissionError:
                pass
            open("scratch.txt", "w").write("x")
        """,
    })
    before = (src / "train.py").read_text()
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    assert "Completed" == run.wait_for_completion()["status"]
    assert before == (src / "train.py").read_text()
    assert not (src / "scratch.txt").exists()
    restored = Path(run.restore_snapshot(path=src.parent / "restored"))
    assert before == (restored / "train.py").read_text()
    assert not (restored / "data").exists()


def test_unchanged_source_reuses_the_snapshot(exp, src):
    """Two submissions of an unchanged folder share one snapshot id."""
    write(src, {"a.py": "pass\n"})
    first = exp.submit(ScriptRunConfig(src, "a.py"))
    second = exp.submit(ScriptRunConfig(src, "a.py"))
    first.wait_for_completion()
    second.wait_for_completion()
    assert first.get_snapshot_id() == second.get_snapshot_id()


def test_outputs_and_logs_are_the_record(exp, src):
    """outputs/ and logs/ written by the script are the run's files; the copy is dropped."""
    write(src, {"train.py": """
        import os
        os.makedirs("outputs/sub", exist_ok=True)
        open("outputs/sub/model.pkl", "w").write("m")
        os.makedirs("logs", exist_ok=True)
        open("logs/extra.txt", "w").write("l")
        print("to stdout")
    """})
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    run.wait_for_completion()
    assert ["logs/extra.txt", "logs/std_log.txt", "outputs/sub/model.pkl"] == \
        run.get_file_names()
    assert not (run.folder / "train.py").exists()


def test_environment_variables_and_context_reach_the_script(exp, src):
    """The script gets PYTHONUNBUFFERED, the run context and the configured variables."""
    write(src, {"env.py": """
        import json, os
        keys = ["PYTHONUNBUFFERED", "RUNNER_RUN_ID", "AZUREML_RUN_ID", "MY_VAR", "API_TOKEN"]
        os.makedirs("outputs", exist_ok=True)
        json.dump({k: os.environ.get(k) for k in keys}, open("outputs/env.json", "w"))
    """})
    config = ScriptRunConfig(src, "env.py")
    config.run_config.environment_variables = {"MY_VAR": "1", "API_TOKEN": "s3cret"}
    run = exp.submit(config)
    run.wait_for_completion()
    seen = json.loads((run.folder / "outputs" / "env.json").read_text())
    assert {"PYTHONUNBUFFERED": "1", "RUNNER_RUN_ID": run.id, "AZUREML_RUN_ID": run.id,
            "MY_VAR": "1", "API_TOKEN": "s3cret"} == seen
    recorded = run.get_details()["runDefinition"]["environmentVariables"]
    assert "s3cret" not in json.dumps(recorded)
    assert "1" == recorded["MY_VAR"]


def test_an_interpreter_without_runner_still_logs_and_azureml_imports_work(exp, src, tmp_path):
    """A bare venv's interpreter logs through the shim, and azureml.core imports reach runner."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    write(src, {"train.py": """
        from azureml.core.run import Run
        from azureml.core import Run as Run2
        run = Run.get_context()
        assert run is Run2.get_context()
        run.log("from_bare_venv", 1)
        import sys
        print(sys.prefix)
    """})
    env = Environment("bare")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = str(python)
    run = exp.submit(ScriptRunConfig(src, "train.py", environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    assert "Completed" == details["status"], (run.folder / "logs" / "std_log.txt").read_text()
    assert {"from_bare_venv": 1} == run.get_metrics()
    assert str(venv) in (run.folder / "logs" / "std_log.txt").read_text()


def test_show_output_streams_the_log_and_a_summary(exp, src, capsys):
    """wait_for_completion(show_output=True) prints RunId, the output, then a summary."""
    write(src, {"hello.py": "print('line one')\nprint('line two')\n"})
    run = exp.submit(ScriptRunConfig(src, "hello.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert out.startswith(f"RunId: {run.id}\n")
    assert "line one\nline two\n" in out
    assert "Execution Summary" in out
    assert out.index("line two") < out.index("Execution Summary")


def test_streaming_a_run_this_process_started_shows_output_while_it_runs(exp, src, tmp_path):
    """The submitting process streams its own run live without watching files (an
    inotify instance costs a kernel grace period to close): a line the script prints
    reaches the waiter while the script still waits for the waiter's answer."""
    from runner.execution.wait import wait_for_completion

    go = tmp_path / "go"
    write(src, {"ask.py": f"""
        import os, time
        print("ready", flush=True)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.01)
        print("answered")
    """})
    inotify_seen = []

    class Answering(io.StringIO):
        def write(self, text):
            if "ready" in text:
                inotify_seen.extend(
                    fd for fd in os.listdir("/proc/self/fd")
                    if "inotify" in _link(f"/proc/self/fd/{fd}"))
                go.write_text("")
            return super().write(text)

    out = Answering()
    run = exp.submit(ScriptRunConfig(src, "ask.py"))
    details = wait_for_completion(run, show_output=True, out=out)
    assert "Completed" == details["status"]
    assert out.getvalue().index("ready") < out.getvalue().index("answered")
    assert [] == inotify_seen


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_non_utf8_output_and_large_output_do_not_break_anything(exp, src, capsys):
    """Bytes that are not UTF-8 and 100 MB of output are kept and streamed."""
    write(src, {"noisy.py": """
        import sys
        sys.stdout.buffer.write(b"bad bytes: \\xff\\xfe\\n")
        chunk = b"x" * 1023 + b"\\n"
        for _ in range(100 * 1024):
            sys.stdout.buffer.write(chunk)
        print("the end")
    """})
    run = exp.submit(ScriptRunConfig(src, "noisy.py"))
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    log = run.folder / "logs" / "std_log.txt"
    assert "Completed" == details["status"]
    assert log.stat().st_size >= 100 * 1024 * 1024
    assert "bad bytes: \ufffd\ufffd" in out
    assert "the end" in out


def test_child_runs_created_in_a_script_belong_to_the_run(exp, src):
    """run.child_run() inside a submitted script makes children of the submitted run."""
    write(src, {"parent.py": """
        from runner import Run
        run = Run.get_context()
        for i in range(2):
            with run.child_run(f"part-{i}") as child:
                child.log("i", i)
    """})
    run = exp.submit(ScriptRunConfig(src, "parent.py"))
    run.wait_for_completion()
    children = list(run.get_children())
    assert 2 == len(children)
    assert {"Completed"} == {c.get_status() for c in children}
    assert {c.id: {"i": i} for c, i in zip(children, (1, 0))} == \
        {k: v for k, v in run.get_metrics(recursive=True).items() if k != run.id}


def test_submit_child_makes_a_submitted_child_run(exp, src):
    """run.submit_child(config) submits a run whose parent is the run."""
    write(src, {"a.py": "print('child')\n"})
    parent = exp.start_logging(snapshot_directory=None, outputs=False)
    child = parent.submit_child(ScriptRunConfig(src, "a.py"))
    child.wait_for_completion()
    parent.complete()
    assert [child.id] == [c.id for c in parent.get_children()]
    assert parent.id == child.parent.id


def test_system_metrics_are_sampled_and_kept_apart(fast, src):
    """The supervisor samples CPU and memory; get_metrics() does not return them."""
    write(src, {"busy.py": """
        import time
        from runner import Run
        Run.get_context().log("user_metric", 1)
        data = bytearray(30 * 1024 * 1024)
        start = time.time()
        while time.process_time() < 0.6 or time.time() - start < 0.5:
            pass
    """})
    run = Experiment(fast, "sys").submit(ScriptRunConfig(src, "busy.py"))
    details = run.wait_for_completion()
    assert {"user_metric": 1} == run.get_metrics()
    system = run.get_system_metrics()
    assert {"cpu_percent", "memory_rss_bytes"} <= set(system)
    assert details["system"]["peakMemoryBytes"] > 30 * 1024 * 1024
    assert details["system"]["cpuTimeSeconds"] > 0.5


def test_a_supervisor_started_with_exec_names_the_run_on_its_command_line(ws, src):
    """With supervisor_start: exec, the supervisor is a process whose argv names the run."""
    configure(ws, supervisor_start="exec")
    write(src, {"slow.py": "import time; time.sleep(3)\n"})
    run = Experiment(ws, "exec").submit(ScriptRunConfig(src, "slow.py"))
    owner = wait_for(lambda: ws.store.get_run(run.id)["owner_pid"])
    # Read right after its exec, a process's command line can be empty for an instant
    # (the kernel has not set it up yet): what it says once it says anything counts.
    shown = wait_for(lambda: " ".join(psutil.Process(owner).cmdline()))
    assert run.id in shown
    assert "Completed" == run.wait_for_completion()["status"]


# --------------------------------------------------------------------------- reliability


def test_a_script_that_raises_fails_with_the_exception(exp, src):
    """An uncaught exception ends the run Failed with 'User program failed with ...'."""
    write(src, {"bad.py": """
        import os
        os.makedirs("outputs", exist_ok=True)
        open("outputs/partial.txt", "w").write("p")
        def f():
            raise ValueError("boom")
        f()
    """})
    run = exp.submit(ScriptRunConfig(src, "bad.py"))
    with pytest.raises(RunFailed, match="User program failed with ValueError: boom"):
        run.wait_for_completion()
    details = run.wait_for_completion(raise_on_error=False)
    assert "Failed" == details["status"]
    assert "ValueError: boom" in details["error"]["error"]["details"]
    assert 1 == details["exitCode"]
    assert "outputs/partial.txt" in run.get_file_names()


def test_sys_exit_codes_decide_the_status(exp, src):
    """sys.exit(0) is Completed; sys.exit(3) is Failed with exit code 3."""
    write(src, {"ok.py": "import sys; sys.exit(0)\n", "three.py": "import sys; sys.exit(3)\n"})
    ok = exp.submit(ScriptRunConfig(src, "ok.py"))
    three = exp.submit(ScriptRunConfig(src, "three.py"))
    assert "Completed" == ok.wait_for_completion()["status"]
    details = three.wait_for_completion(raise_on_error=False)
    assert ("Failed", 3) == (details["status"], details["exitCode"])
    assert "exit code 3" in details["error"]["error"]["message"]


def test_a_script_killed_by_a_signal_fails_naming_it(exp, src):
    """A script that dies of SIGKILL ends Failed with the signal's name."""
    write(src, {"die.py": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"})
    details = exp.submit(ScriptRunConfig(src, "die.py")).wait_for_completion(
        raise_on_error=False)
    assert "Failed" == details["status"]
    assert "SIGKILL" in details["error"]["error"]["message"]


def test_complete_and_fail_inside_the_script_do_not_set_the_status(exp, src):
    """run.fail() in a script that exits 0 leaves it Completed; the process decides."""
    write(src, {"f.py": """
        from runner import Run
        run = Run.get_context()
        run.fail("said failed")
        run.complete()
    """})
    run = exp.submit(ScriptRunConfig(src, "f.py"))
    assert "Completed" == run.wait_for_completion()["status"]


def test_cancel_ends_the_whole_process_tree(fast, src):
    """Cancel sends the script and its grandchildren SIGTERM then SIGKILL; none survive."""
    write(src, {"tree.py": """
        import os, subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "time.sleep(60)"]) for _ in range(2)]
        os.makedirs("outputs", exist_ok=True)
        open("outputs/pids.txt", "w").write(" ".join(str(k.pid) for k in kids))
        time.sleep(60)
    """})
    run = Experiment(fast, "cancel").submit(ScriptRunConfig(src, "tree.py"))
    pids_file = run.folder / "outputs" / "pids.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text())
    pids = [int(p) for p in pids_file.read_text().split()]
    run.cancel()
    details = run.wait_for_completion()
    assert "Canceled" == details["status"]
    assert [] == [p for p in pids if psutil.pid_exists(p)
                  and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert "outputs/pids.txt" in run.get_file_names()


def test_max_run_duration_cancels_the_run_naming_the_limit(fast, src):
    """A run over max_run_duration_seconds ends Canceled with an error naming the limit."""
    write(src, {"slow.py": "import time; time.sleep(60)\n"})
    run = Experiment(fast, "timeout").submit(
        ScriptRunConfig(src, "slow.py", max_run_duration_seconds=1))
    details = run.wait_for_completion()
    assert "Canceled" == details["status"]
    assert "max_run_duration_seconds=1" in details["error"]["error"]["message"]


def test_a_killed_supervisor_is_noticed_and_its_orphan_ended(fast, src):
    """SIGKILL of the supervisor: a reader marks the run Failed and ends the script."""
    write(src, {"slow.py": "import time; time.sleep(60)\n"})
    run = Experiment(fast, "orphan").submit(ScriptRunConfig(src, "slow.py"))
    row = wait_for(lambda: (r := fast.store.get_run(run.id))["script_pid"] and r)
    os.kill(row["owner_pid"], signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(row["owner_pid"])
             or psutil.Process(row["owner_pid"]).status() == psutil.STATUS_ZOMBIE)
    assert "Failed" == Run.get(fast, run.id).get_status()
    assert "died" in fast.store.get_run(run.id)["error"]["error"]["message"]
    wait_for(lambda: not psutil.pid_exists(row["script_pid"])
             or psutil.Process(row["script_pid"]).status() == psutil.STATUS_ZOMBIE)


def test_the_run_goes_on_when_the_submitter_exits(ws, src):
    """A process that submits and exits at once leaves a run that completes."""
    write(src, {"slow.py": "import time\nfrom runner import Run\ntime.sleep(1)\n"
                           "Run.get_context().log('done', 1)\n"})
    driver = textwrap.dedent(f"""
        from runner import Experiment, ScriptRunConfig, Workspace
        ws = Workspace.get({str(ws.root)!r})
        run = Experiment(ws, "detached").submit(ScriptRunConfig({str(src)!r}, "slow.py"))
        print(run.id)
    """)
    out = subprocess.run([sys.executable, "-c", driver], check=True, capture_output=True,
                         text=True).stdout
    run = Run.get(ws, out.strip())
    assert "Completed" == run.wait_for_completion()["status"]
    assert {"done": 1} == run.get_metrics()


def test_concurrent_runs_lose_no_metric(ws, src):
    """Six runs logging 20,000 values each at once keep every value."""
    write(src, {"log.py": """
        from runner import Run
        run = Run.get_context()
        for i in range(20000):
            run.log("x", float(i))
        for i in range(100):
            run.log("n", i)
    """})
    exp = Experiment(ws, "many")
    runs = [exp.submit(ScriptRunConfig(src, "log.py")) for _ in range(6)]
    for run in runs:
        assert "Completed" == run.wait_for_completion()["status"]
    for run in runs:
        metrics = run.get_metrics()
        assert [float(i) for i in range(20000)] == metrics["x"]
        assert list(range(100)) == metrics["n"]


def test_max_concurrent_runs_one_runs_submissions_one_after_another(ws, src):
    """With max_concurrent_runs: 1, three runs run in submission order without overlap."""
    configure(ws, max_concurrent_runs=1)
    write(src, {"s.py": "import time; time.sleep(0.3)\n"})
    exp = Experiment(ws, "queue")
    runs = [exp.submit(ScriptRunConfig(src, "s.py")) for _ in range(3)]
    for run in runs:
        run.wait_for_completion()
    rows = [ws.store.get_run(r.id) for r in runs]
    assert ["Completed"] * 3 == [r["status"] for r in rows]
    for earlier, later in zip(rows, rows[1:]):
        assert earlier["end_time"] <= later["start_time"]


# --------------------------------------------------------------------------- bad input


def test_a_missing_source_directory_is_refused_leaving_nothing(exp, ws, tmp_path):
    """A source directory that does not exist: clear error, no run row, no folder."""
    with pytest.raises(UsageError, match="does not exist"):
        exp.submit(ScriptRunConfig(tmp_path / "nope", "train.py"))
    assert ([], []) == no_trace(ws)


@pytest.mark.parametrize("script", ["missing.py", "../outside.py", "/etc/passwd", "link.py"])
def test_a_script_missing_or_outside_is_refused_leaving_nothing(exp, ws, src, script):
    """The script must exist inside the source directory (no '..', no link out)."""
    (src.parent / "outside.py").write_text("pass\n")
    (src / "link.py").symlink_to(src.parent / "outside.py")
    with pytest.raises(UsageError, match="script"):
        exp.submit(ScriptRunConfig(src, script))
    assert ([], []) == no_trace(ws)


@pytest.mark.parametrize("interpreter", ["/no/such/python", "/bin/echo"])
def test_an_interpreter_missing_or_not_python_is_refused(exp, ws, src, interpreter):
    """A user-managed interpreter that is missing or not a Python is refused up front."""
    write(src, {"a.py": "pass\n"})
    env = Environment("bad")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = interpreter
    with pytest.raises(EnvironmentSpecError):
        exp.submit(ScriptRunConfig(src, "a.py", environment=env))
    assert ([], []) == no_trace(ws)


def test_a_snapshot_over_the_limit_names_the_biggest_files(ws, src):
    """Over snapshot_max_bytes, the error names the largest file and nothing is written."""
    configure(ws, snapshot_max_bytes=1000)
    write(src, {"a.py": "pass\n", "data/huge.bin": "x" * 5000})
    with pytest.raises(SnapshotError, match=r"huge\.bin"):
        Experiment(ws, "big").submit(ScriptRunConfig(src, "a.py"))
    assert ([], []) == no_trace(ws)


def test_arguments_that_cannot_be_strings_are_refused(exp, ws, src):
    """An argument whose str() fails (or a nested list) is refused before anything is written."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    write(src, {"a.py": "pass\n"})
    for bad in (Broken(), ["nested"]):
        with pytest.raises(UsageError, match="arguments"):
            exp.submit(ScriptRunConfig(src, "a.py", arguments=[bad]))
    assert ([], []) == no_trace(ws)


def test_unknown_submit_keywords_point_to_wait_for_completion(exp, src):
    """submit(show_output=True), shown in old docs, is an error that says what to do."""
    write(src, {"a.py": "pass\n"})
    with pytest.raises(UsageError, match="wait_for_completion"):
        exp.submit(ScriptRunConfig(src, "a.py"), show_output=True)


def test_ctrl_c_stops_waiting_not_the_run(fast, src):
    """SIGINT to a process waiting on a run ends the wait; the run goes on."""
    write(src, {"slow.py": "import time\nprint('started', flush=True)\ntime.sleep(60)\n"})
    run = Experiment(fast, "ctrlc").submit(ScriptRunConfig(src, "slow.py"))
    waiter = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom runner import Run, Workspace\n"
         f"Run.get(Workspace.get({str(fast.root)!r}), {run.id!r})"
         ".wait_for_completion(show_output=True)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stdout.readline().startswith("RunId:")
        wait_for(lambda: "started" in waiter.stdout.readline())
        waiter.send_signal(signal.SIGINT)
        _, err = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert "KeyboardInterrupt" in err
    assert "Running" == run.get_status()
    run.cancel()
    assert "Canceled" == run.wait_for_completion()["status"]
