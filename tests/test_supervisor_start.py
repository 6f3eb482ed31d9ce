"""How a supervisor starts: detached from the submitter's descriptors, named after its
run, forked only from a single-threaded process, recorded by itself, cancelable at once.

Each test submits from a driver: a real Python process started as a user would
start one, so that the submitter's threads, descriptors and command line are
known (pytest's own process has capture pipes and, under xdist, threads).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from runner import Run, Workspace

SLOW = "import time; time.sleep(30)\n"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source folder with a slow script and a quick one."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "slow.py").write_text(SLOW)
    (folder / "quick.py").write_text("from runner import Run\nRun.get_context().log('m', 1)\n")
    return folder


def drive(ws: Workspace, src: Path, body: str) -> dict:
    """Run a driver that submits; ``body`` sees ``exp``, ``cfg(script)`` and ``report``.

    Returns what the driver reported (a JSON line on stdout).
    """
    code = textwrap.dedent(f"""
        import json, os, sys
        from runner import Experiment, ScriptRunConfig, Workspace
        ws = Workspace.get({str(ws.root)!r})
        exp = Experiment(ws, "start")
        def cfg(script):
            return ScriptRunConfig({str(src)!r}, script)
        def report(**values):
            print(json.dumps(values), flush=True)
    """) + textwrap.dedent(body)
    driver = src.parent / "driver.py"
    driver.write_text(code)
    proc = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True,
                          timeout=60)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"driver reported nothing (exit {proc.returncode}): {proc.stderr}"
    return json.loads(lines[-1])


def cmdline(pid: int) -> str:
    """The command line of ``pid`` as ``ps`` and ``pgrep -f`` show it."""
    return " ".join(psutil.Process(pid).cmdline())


def end(ws: Workspace, run_id: str) -> None:
    """Cancel a run and wait for its end (cleanup)."""
    run = Run.get(ws, run_id)
    run.cancel()
    run.wait_for_completion(raise_on_error=False)


def test_a_submitter_holding_an_extra_pipe_returns_before_the_run_ends(ws, src):
    """A driver run as $(...) would be, with its stdout duplicated, returns while the run
    goes on: the supervisor keeps none of the driver's descriptors."""
    report = drive(ws, src, """
        extra = os.dup(1)  # a logging handler or a capture would hold one like this
        run = exp.submit(cfg("slow.py"))
        report(run=run.id)
    """)
    try:
        assert Run.get(ws, report["run"]).get_status() in {"Queued", "Preparing", "Running"}
    finally:
        end(ws, report["run"])


def test_a_forked_supervisor_names_its_run_and_not_the_submitter(ws, src):
    """A supervisor forked from a single-threaded driver shows a command line with the
    run id and none of the driver's, and keeps the comm runner:<id tail>."""
    report = drive(ws, src, """
        run = exp.submit(cfg("slow.py"))
        report(run=run.id, owner=ws.store.get_run(run.id)["owner_pid"])
    """)
    try:
        line = cmdline(report["owner"])
        assert f"runner supervisor {report['run']}" == line.strip()
        assert "driver.py" not in line
        found = subprocess.run(["pgrep", "-f", report["run"]], capture_output=True,
                               text=True).stdout.split()
        assert str(report["owner"]) in found
        assert f"runner:{report['run'][-8:]}" == psutil.Process(report["owner"]).name()
    finally:
        end(ws, report["run"])


def test_a_run_id_longer_than_the_submitter_command_line_still_shows(ws, src):
    """A run id longer than the driver's whole argv area: the title spills into the
    environment area, and the supervisor's and the script's environment stay intact."""
    (src / "env.py").write_text("import os\nprint('HOME=' + os.environ['HOME'])\n")
    report = drive(ws, src, """
        long_id = "long_" + "r" * (len(" ".join(sys.argv)) + len(sys.executable) + 40)
        run = exp.submit(cfg("slow.py"), run_id=long_id)
        quick = exp.submit(cfg("env.py"), run_id=long_id + "_env")
        quick.wait_for_completion()
        report(run=run.id, owner=ws.store.get_run(run.id)["owner_pid"], quick=quick.id)
    """)
    try:
        assert f"runner supervisor {report['run']}" == cmdline(report["owner"]).strip()
        log = (ws.paths.run_dir(report["quick"]) / "logs" / "std_log.txt").read_text()
        assert f"HOME={Path.home()}" in log
    finally:
        end(ws, report["run"])


def test_a_multithreaded_submitter_execs_the_supervisor(ws, src):
    """A driver with a running thread does not fork: its supervisor is a new
    interpreter started as ``python -m runner.execution.supervisor ROOT RUN_ID``."""
    report = drive(ws, src, """
        import threading, time
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        run = exp.submit(cfg("slow.py"))
        report(run=run.id, owner=ws.store.get_run(run.id)["owner_pid"])
    """)
    try:
        line = cmdline(report["owner"])
        assert f"-m runner.execution.supervisor {ws.root} {report['run']}" in line
    finally:
        end(ws, report["run"])


def test_a_submitter_whose_thread_pool_was_joined_still_forks(ws, src):
    """Python threads that were joined (a snapshot's worker pool over many files) do not
    force the exec path: the supervisor is forked."""
    for i in range(200):
        (src / f"f{i}.txt").write_text(str(i))
    report = drive(ws, src, """
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(abs, range(100)))
        run = exp.submit(cfg("slow.py"))
        report(run=run.id, owner=ws.store.get_run(run.id)["owner_pid"])
    """)
    try:
        assert f"runner supervisor {report['run']}" == cmdline(report["owner"]).strip()
    finally:
        end(ws, report["run"])


def test_a_submitter_killed_right_after_starting_the_supervisor_leaves_a_healthy_run(ws, src):
    """SIGKILL of the submitter the moment the supervisor is started: the supervisor has
    recorded itself as the owner, so the run completes instead of being judged dead."""
    report = drive(ws, src, """
        import signal
        from runner.execution import control
        start = control.start_supervisor
        def start_and_die(*args, **kwargs):
            pid = start(*args, **kwargs)
            row = ws.store.get_run(args[1])
            report(run=args[1], pid=pid, owner=row["owner_pid"], me=os.getpid())
            os.kill(os.getpid(), signal.SIGKILL)
        control.start_supervisor = start_and_die
        exp.submit(cfg("quick.py"))
    """)
    assert report["pid"] == report["owner"]
    assert report["me"] != report["owner"]
    run = Run.get(ws, report["run"])
    assert "Completed" == run.wait_for_completion()["status"]
    assert {"m": 1} == run.get_metrics()


def test_a_supervisor_that_dies_before_recording_itself_leaves_a_failed_run(ws, src):
    """A forked supervisor that fails before it records itself: the submitter records it,
    so waiting ends with the run Failed (its owner died) instead of waiting forever."""
    report = drive(ws, src, """
        from runner.execution import supervisor
        def broken(self, *args, **kwargs):
            raise RuntimeError("broken before recording")
        supervisor.Supervisor.__init__ = broken
        run = exp.submit(cfg("quick.py"))
        details = run.wait_for_completion(raise_on_error=False)
        report(status=details["status"], owner=ws.store.get_run(run.id)["owner_pid"],
               me=os.getpid())
    """)
    assert "Failed" == report["status"]
    assert report["me"] != report["owner"]


@pytest.mark.parametrize("mode", ["fork", "exec"])
def test_cancel_right_after_submit_always_ends_canceled(ws, src, mode):
    """Twenty submit + cancel pairs, each cancel sent at once: every run ends Canceled
    (the cancel signal waits, blocked, until the supervisor's handler is up)."""
    report = drive(ws, src, f"""
        if {mode!r} == "exec":
            import threading, time
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        statuses = []
        for _ in range(20):
            run = exp.submit(cfg("slow.py"))
            run.cancel()
            statuses.append(run.wait_for_completion(raise_on_error=False)["status"])
        report(statuses=statuses)
    """)
    assert ["Canceled"] * 20 == report["statuses"]


def test_waiting_works_with_over_1024_descriptors_open(ws, src):
    """A submitter holding 1,100 descriptors (a notebook with many workspaces) still
    waits for its run, and for a run it did not start (select() would refuse both)."""
    report = drive(ws, src, """
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2048 and (hard == resource.RLIM_INFINITY or hard >= 2048):
            resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        mine = exp.submit(cfg("quick.py"))
        first = mine.wait_for_completion()["status"]
        other = exp.submit(cfg("quick.py"))
        second = other.wait_for_completion(show_output=True)["status"]  # watches files
        report(first=first, second=second, top=max(held))
    """)
    assert report["top"] > 1024
    assert ("Completed", "Completed") == (report["first"], report["second"])


def test_show_names_the_supervisor_pid(ws, src):
    """``runner show`` names the supervisor's pid while the run goes on."""
    report = drive(ws, src, """
        run = exp.submit(cfg("slow.py"))
        report(run=run.id, owner=ws.store.get_run(run.id)["owner_pid"])
    """)
    try:
        from click.testing import CliRunner

        from runner.cli.main import cli

        out = CliRunner().invoke(cli, ["show", report["run"]],
                                 env={"RUNNER_WORKSPACE": str(ws.root)}).output
        assert f"pid {report['owner']}" in next(
            line for line in out.splitlines() if line.startswith("Supervisor:"))
    finally:
        end(ws, report["run"])


def test_a_forked_supervisor_imports_nothing_on_its_way_to_the_script(ws, src):
    """What a supervisor needs up to the script's launch is imported once, in the
    submitter before it forks, not again in every run's supervisor."""
    report = drive(ws, src, """
        from runner.execution import supervisor
        seen = {}
        run_supervisor, record = supervisor.Supervisor.run, supervisor.Supervisor._record_running
        def traced_run(self):
            seen["at_fork"] = set(sys.modules)
            return run_supervisor(self)
        def traced_record(self):  # the script started, about to run its code
            new = sorted(set(sys.modules) - seen["at_fork"])
            with open(os.path.join(self.run_dir, ".sys", "imports.json"), "w") as f:
                json.dump(new, f)
            return record(self)
        supervisor.Supervisor.run = traced_run
        supervisor.Supervisor._record_running = traced_record
        run = exp.submit(cfg("quick.py"))
        run.wait_for_completion()
        report(run=run.id, new=json.load(open(os.path.join(run.folder, ".sys", "imports.json"))))
    """)
    assert [] == report["new"], report["new"]


def test_the_submitter_is_woken_by_the_recorded_end_not_the_supervisor_exit(ws, src):
    """wait_for_completion() in the submitting process returns once the run's end is
    recorded, while the supervisor is still there (it lingers here), without polling."""
    report = drive(ws, src, """
        from runner.execution import supervisor, wait
        from runner.store import proc
        wait.POLL = 3600.0  # no status poll could end this wait
        run_supervisor = supervisor.Supervisor.run
        def lingering(self):
            code = run_supervisor(self)
            import time
            time.sleep(60)
            return code
        supervisor.Supervisor.run = lingering
        run = exp.submit(cfg("quick.py"))
        details = run.wait_for_completion()
        row = ws.store.get_run(run.id)
        report(run=run.id, status=details["status"], pid=row["owner_pid"],
               alive=proc.is_alive(row["owner_pid"], row["owner_start"]))
    """)
    try:
        assert "Completed" == report["status"]
        assert report["alive"] is True
    finally:
        supervisor = psutil.Process(report["pid"])
        if report["run"] in cmdline(report["pid"]):
            supervisor.kill()
