"""A run's life: start, status and details, ending it, children, reopening it elsewhere,
tags and properties, and the status readers derive when its owner dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from runner import (
    Experiment,
    Run,
    RunNotFound,
    RunStatus,
    SnapshotError,
    UsageError,
    Workspace,
)


def _start(exp: Experiment, **kwargs) -> Run:
    kwargs.setdefault("outputs", False)
    return exp.start_logging(snapshot_directory=None, **kwargs)


def _python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter; fail the test if it fails."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout)
    assert 0 == proc.returncode, proc.stderr
    return proc


# -------------------------------------------------------------- start_logging


def test_start_logging_gives_a_running_run_with_a_uuid4_id(exp: Experiment):
    """An interactive run is Running at once and its id is a uuid4."""
    run = _start(exp)

    assert RunStatus.RUNNING == run.get_status()
    assert 4 == uuid.UUID(run.id).version
    assert "interactive" == run.type
    run.complete()


def test_start_logging_records_the_owner_process(ws: Workspace, exp: Experiment):
    """The store records the pid and start time of the process that started the run."""
    run = _start(exp)

    row = ws.store.get_run(run.id)

    assert os.getpid() == row["owner_pid"]
    assert psutil.Process().create_time() == pytest.approx(row["owner_start"], abs=1.0)
    run.complete()


def test_start_logging_takes_name_description_and_tags(exp: Experiment):
    """display_name, description and tags given to start_logging are stored."""
    run = _start(exp, display_name="first try", description="baseline", tags={"lr": 0.1})

    assert ("first try", "baseline", {"lr": "0.1"}) == (
        run.display_name, run.description, run.get_tags())
    run.complete()


def test_start_logging_with_a_run_id_uses_it(exp: Experiment):
    """A run_id given to start_logging is the run's id."""
    run = _start(exp, run_id="my-run-1")

    assert "my-run-1" == Run(exp, "my-run-1").id
    run.complete()


def test_outputs_folder_of_the_cwd_is_created_at_once(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """start_logging() creates ./outputs immediately."""
    monkeypatch.chdir(tmp_path)

    run = exp.start_logging(snapshot_directory=None)

    assert (tmp_path / "outputs").is_dir()
    run.complete()


def test_outputs_false_tracks_no_folder(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """start_logging(outputs=False) creates and stores no outputs folder."""
    monkeypatch.chdir(tmp_path)

    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.complete()

    assert not (tmp_path / "outputs").exists()
    assert [] == run.get_file_names()


@pytest.mark.parametrize(
    ("end", "status"),
    [("complete", "Completed"), ("fail", "Failed"), ("cancel", "Canceled")],
)
def test_outputs_are_stored_when_the_run_ends(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: str, status: str
):
    """complete(), fail() and cancel() all store ./outputs with the run."""
    monkeypatch.chdir(tmp_path)
    run = exp.start_logging(snapshot_directory=None)
    (tmp_path / "outputs" / "model").mkdir()
    (tmp_path / "outputs" / "model" / "w.txt").write_text("weights")

    getattr(run, end)()

    assert status == run.get_status()
    assert ["outputs/model/w.txt"] == run.get_file_names()
    assert "weights" == (run.folder / "outputs" / "model" / "w.txt").read_text()


def test_outputs_given_as_a_folder_are_stored_as_outputs(exp: Experiment, tmp_path: Path):
    """start_logging(outputs='dir') tracks that folder and stores it as outputs/."""
    run = exp.start_logging(snapshot_directory=None, outputs=str(tmp_path / "out"))
    (tmp_path / "out" / "r.txt").write_text("result")

    run.complete()

    assert ["outputs/r.txt"] == run.get_file_names()


def test_start_logging_snapshots_the_cwd_by_default(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """start_logging() captures the current folder as the run's snapshot."""
    (tmp_path / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)

    run = exp.start_logging()

    assert run.get_snapshot_id()
    run.complete()


def test_snapshot_refusal_leaves_no_run_behind(exp: Experiment, tmp_path: Path):
    """A snapshot of a missing folder raises SnapshotError and starts no run."""
    with pytest.raises(SnapshotError):
        exp.start_logging(snapshot_directory=str(tmp_path / "missing"), outputs=False)

    assert [] == list(exp.get_runs())


# ---------------------------------------------------------- context manager


def test_with_block_completes_the_run(exp: Experiment):
    """A with-block that ends normally completes the run."""
    with _start(exp) as run:
        run.log("x", 1.0)

    assert RunStatus.COMPLETED == run.get_status()
    assert {"x": 1.0} == Run(exp, run.id).get_metrics()


def test_with_block_that_raises_fails_the_run_and_re_raises(exp: Experiment):
    """An exception in the with-block fails the run with 'User program failed with ...'."""
    with pytest.raises(ValueError, match="bad input"):
        with _start(exp) as run:
            raise ValueError("bad input")

    details = run.get_details()
    assert RunStatus.FAILED == details["status"]
    assert "User program failed with ValueError: bad input" == details["error"]["error"]["message"]


def test_with_block_exiting_zero_completes_the_run(exp: Experiment):
    """sys.exit(0) inside the with-block counts as success."""
    with pytest.raises(SystemExit):
        with _start(exp) as run:
            sys.exit(0)

    assert RunStatus.COMPLETED == run.get_status()


# ---------------------------------------------------------- status and details


def test_get_details_while_running_has_no_end_time(exp: Experiment):
    """get_details() uses camelCase keys and leaves out endTimeUtc while running."""
    run = _start(exp)

    details = run.get_details()

    assert {"runId", "status", "startTimeUtc", "properties", "logFiles",
            "runDefinition", "target"} <= set(details)
    assert (run.id, "Running", "local") == (details["runId"], details["status"],
                                            details["target"])
    assert "endTimeUtc" not in details
    assert "error" not in details
    assert details["startTimeUtc"].endswith("Z")
    run.complete()


def test_get_details_after_completion_has_an_end_time(exp: Experiment):
    """A completed run's details carry endTimeUtc after startTimeUtc."""
    run = _start(exp)
    run.complete()

    details = run.get_details()

    assert "Completed" == details["status"]
    assert details["startTimeUtc"] <= details["endTimeUtc"]


def test_logs_folder_files_are_listed_as_log_files(exp: Experiment):
    """Files under the run's logs/ appear in logFiles; outputs do not."""
    run = _start(exp)
    (run.folder / "logs").mkdir()
    (run.folder / "logs" / "user_log.txt").write_text("hello\n")
    (run.folder / "outputs").mkdir()
    (run.folder / "outputs" / "m.txt").write_text("m")

    assert ["logs/user_log.txt"] == list(run.get_details()["logFiles"])
    assert ["logs/user_log.txt", "outputs/m.txt"] == run.get_file_names()
    run.complete()


def test_fail_with_a_message(exp: Experiment):
    """fail('text') records that message with code UserError."""
    run = _start(exp)

    run.fail("data was empty")

    error = run.get_details()["error"]["error"]
    assert ("Failed", "UserError", "data was empty") == (
        run.get_status(), error["code"], error["message"])


def test_fail_with_an_exception(exp: Experiment):
    """fail(exc) records 'User program failed with <Type>: <msg>'."""
    run = _start(exp)
    try:
        raise KeyError("col")
    except KeyError as exc:
        run.fail(exc)

    error = run.get_details()["error"]["error"]
    assert "User program failed with KeyError: 'col'" == error["message"]
    assert "KeyError" in error["details"]


def test_fail_with_another_type_is_a_type_mismatch(exp: Experiment):
    """fail() given neither a str nor an exception raises TypeError and leaves the run."""
    run = _start(exp)

    with pytest.raises(TypeError):
        run.fail(42)

    assert "Running" == run.get_status()
    run.complete()


def test_a_finished_run_cannot_be_ended_again(exp: Experiment):
    """After complete(), fail() and cancel() change nothing."""
    run = _start(exp)
    run.complete()

    run.fail("late")
    run.cancel()

    assert "Completed" == Run(exp, run.id).get_status()
    assert "error" not in Run(exp, run.id).get_details()


def test_cancel_marks_an_interactive_run_canceled(exp: Experiment):
    """cancel() on an interactive run ends it Canceled with an end time."""
    run = _start(exp)

    run.cancel()

    details = Run(exp, run.id).get_details()
    assert ("Canceled", True) == (details["status"], "endTimeUtc" in details)


def test_terminal_status_is_cached(ws: Workspace, exp: Experiment):
    """get_status() keeps a terminal status without asking the store again."""
    run = _start(exp)
    run.complete()
    ws.store.update_run(run.id, status="Running")

    assert "Completed" == run.get_status()


def test_status_reads_changes_made_elsewhere(ws: Workspace, exp: Experiment):
    """A handle sees a status another handle wrote."""
    run = _start(exp)
    other = Run(exp, run.id)

    run.complete()

    assert "Completed" == other.get_status()


def test_metrics_are_flushed_when_the_run_ends(exp: Experiment):
    """complete() writes everything logged before it."""
    run = _start(exp)
    for i in range(1000):
        run.log("x", float(i))

    run.complete()

    assert 1000 == len(Run(exp, run.id).get_metrics()["x"])


# ------------------------------------------------------------------- children


def test_child_run_is_running_and_knows_its_parent(exp: Experiment):
    """child_run() starts a Running child whose parent is the run."""
    parent = _start(exp)

    child = parent.child_run("fold-1")

    assert ("Running", "child", "fold-1", parent.id) == (
        child.get_status(), child.type, child.display_name, child.parent.id)
    assert 4 == uuid.UUID(child.id).version
    assert parent.parent is None
    parent.complete()
    child.complete()


def test_child_with_block_completes_the_child_only(exp: Experiment):
    """A with-block over a child completes the child; the parent keeps running."""
    parent = _start(exp)

    with parent.child_run() as child:
        child.log("x", 1.0)

    assert ("Completed", "Running") == (child.get_status(), parent.get_status())
    parent.complete()


def test_get_children_direct_or_recursive(exp: Experiment):
    """get_children() lists direct children newest first; recursive adds descendants."""
    parent = _start(exp)
    a = parent.child_run("a")
    b = parent.child_run("b")
    a1 = a.child_run("a1")

    assert [b.id, a.id] == [c.id for c in parent.get_children()]
    assert {a.id, b.id, a1.id} == {c.id for c in parent.get_children(recursive=True)}
    for run in (a1, b, a, parent):
        run.complete()


# ------------------------------------------------------------------- lookups


def test_run_reopened_in_another_process_sees_the_metrics(ws: Workspace, exp: Experiment):
    """Run(experiment, run_id) in another process reads and writes the same run."""
    run = _start(exp)
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log_row("r", x=1)
    run.flush()
    code = (
        "import json, sys\n"
        "from runner import Experiment, Run, Workspace\n"
        "run = Run(Experiment(Workspace(sys.argv[1]), 'test'), sys.argv[2])\n"
        "print(json.dumps([run.get_status(), run.get_metrics()]))\n"
        "run.log('from_child', 7)\n"
    )

    status, metrics = json.loads(_python(code, str(ws.root), run.id).stdout)

    assert ["Running", {"loss": [0.5, 0.25], "r": {"x": 1}}] == [status, metrics]
    assert 7 == run.get_metrics()["from_child"]
    run.complete()


def test_run_get_finds_a_run_by_id(ws: Workspace, exp: Experiment):
    """Run.get(workspace, id) opens the run in its experiment."""
    run = _start(exp)

    found = Run.get(ws, run.id)

    assert (run.id, "test") == (found.id, found.experiment.name)
    assert run == found
    run.complete()


def test_unknown_run_id_is_run_not_found(ws: Workspace, exp: Experiment):
    """An unknown id raises RunNotFound naming it, from Run.get and Run()."""
    with pytest.raises(RunNotFound, match="no-such-run") as info:
        Run.get(ws, "no-such-run")
    with pytest.raises(RunNotFound, match="no-such-run"):
        Run(exp, "no-such-run")

    assert "no-such-run" == info.value.run_id


def test_run_of_another_experiment_is_not_found(ws: Workspace, exp: Experiment):
    """Run(experiment, id) for a run of another experiment raises RunNotFound."""
    run = _start(exp)

    with pytest.raises(RunNotFound, match="belongs to experiment"):
        Run(Experiment(ws, "other"), run.id)
    run.complete()


def test_portal_url_is_a_file_url_of_the_run_folder(exp: Experiment):
    """get_portal_url() is the file:// URL of the run's folder."""
    run = _start(exp)

    url = run.get_portal_url()

    assert url.startswith("file://")
    assert run.folder.resolve().as_uri() == url
    run.complete()


def test_repr_and_str_show_id_and_status(exp: Experiment):
    """repr() names the run, its experiment and status; str() uses Azure ML's layout."""
    run = _start(exp)
    run.complete()

    assert f"<Run {run.id} experiment=test status=Completed>" == repr(run)
    assert (f"Run(Experiment: test,\nId: {run.id},\nType: interactive,\n"
            "Status: Completed)") == str(run)


# ------------------------------------------------------ tags and properties


def test_tags_set_merge_and_remove(exp: Experiment):
    """tag/set_tags merge string values; remove_tags deletes keys; a bare tag is None."""
    run = _start(exp)

    run.tag("quick")
    run.set_tags({"lr": 0.01, "opt": "adam"})
    run.set_tags({"opt": "sgd"})
    run.remove_tags(["lr"])

    assert {"quick": None, "opt": "sgd"} == run.get_tags()
    assert run.get_tags() == Run(exp, run.id).tags
    run.complete()


def test_set_tags_needs_a_dict(exp: Experiment):
    """set_tags() of anything but a dict raises UsageError."""
    run = _start(exp)

    with pytest.raises(UsageError, match="dict"):
        run.set_tags(["a"])
    run.complete()


def test_properties_are_add_only(exp: Experiment):
    """add_properties adds keys; repeating a value is fine; changing one is an error."""
    run = _start(exp)
    run.add_properties({"seed": 1, "data": "v1"})
    run.add_properties({"seed": "1"})
    run.add_properties({})

    with pytest.raises(UsageError, match="add-only"):
        run.add_properties({"seed": 2, "new": "x"})

    assert {"seed": "1", "data": "v1"} == run.get_properties()
    assert run.get_properties() == Run(exp, run.id).properties
    run.complete()


def test_display_name_and_description_can_be_changed(exp: Experiment):
    """Setting display_name and description stores them for every handle."""
    run = _start(exp)

    run.display_name = "renamed"
    run.description = "longer text"

    other = Run(exp, run.id)
    assert ("renamed", "longer text", "renamed") == (
        other.display_name, other.description, other.name)
    run.complete()


def test_name_defaults_to_the_id(exp: Experiment):
    """A run without a display name is named by its id."""
    run = _start(exp)

    assert run.id == run.name
    run.complete()


# ------------------------------------------------------------------ liveness

_START_AND_EXIT = (
    "import os, sys\n"
    "from runner import Experiment, Workspace\n"
    "run = Experiment(Workspace(sys.argv[1]), 'test').start_logging(\n"
    "    snapshot_directory=None, outputs=False)\n"
    "run.log('x', 1.0)\n"
    "run.flush()\n"
    "print(run.id, flush=True)\n"
    "if sys.argv[2] == 'exit':\n"
    "    os._exit(0)\n"
    "import time\n"
    "time.sleep(60)\n"
)


def _dead_owner_run(ws: Workspace, how: str) -> str:
    """Start a run in a child process that then dies without ending it; return its id."""
    if how == "exit":
        return _python(_START_AND_EXIT, str(ws.root), "exit").stdout.strip()
    proc = subprocess.Popen([sys.executable, "-c", _START_AND_EXIT, str(ws.root), "sleep"],
                            stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    return run_id


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_run_whose_owner_died_is_failed(ws: Workspace, exp: Experiment, how: str):
    """A run whose owner process ended without ending it reads as Failed, owner named."""
    run_id = _dead_owner_run(ws, how)
    assert "Running" == ws.store.get_run(run_id)["status"]

    details = Run(exp, run_id).get_details()

    assert "Failed" == details["status"]
    assert "OwnerDied" == details["error"]["error"]["code"]
    assert "ended without completing it" in details["error"]["error"]["message"]
    assert {"x": 1.0} == Run(exp, run_id).get_metrics()


def test_first_reader_records_the_dead_owner_in_the_store(ws: Workspace, exp: Experiment):
    """The first reader to notice writes Failed (and an end time) into the store."""
    run_id = _dead_owner_run(ws, "exit")

    listed = [r.id for r in exp.get_runs(status="Failed")]

    row = ws.store.get_run(run_id)
    assert [run_id] == listed
    assert ("Failed", True) == (row["status"], row["end_time"] >= row["start_time"])
    assert row["end_time"] <= time.time()
