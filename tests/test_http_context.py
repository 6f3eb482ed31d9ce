"""Run.get_context() over HTTP: standard library only, batched, and never blocking the
training loop while the tracking server is slow or down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from runner import Experiment, Run, Workspace
from runner.api import remote_run as _http_store
from runner.api.remote_run import RemoteRun, remote_run
from runner.inrun import context as _context

pytest.importorskip("uvicorn")

from runner.server import ServerThread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _remote(uri: str, run_id: str, exp: Experiment, token: str | None = None) -> RemoteRun:
    return remote_run(_context.RunContext("", run_id, exp.name, uri, token))


def _chunks(ws: Workspace, run_id: str, name: str) -> int:
    return ws.store.read(
        "SELECT COUNT(*) FROM metric_chunks c JOIN metrics m ON m.id = c.metric_id "
        "WHERE m.run_id = ? AND m.name = ?", (run_id, name))[0][0]


def test_a_tracking_uri_makes_get_context_log_over_http_with_the_standard_library_only(
        ws: Workspace, exp: Experiment, tmp_path, script_run):
    """With RUNNER_TRACKING_URI set, a script's Run logs to the server and imports nothing
    outside the standard library (and runner)."""
    run_id = script_run()
    code = (
        "import sys\nBEFORE = set(sys.modules)\n"
        "from runner import Run\n"
        "run = Run.get_context()\n"
        "run.log('loss', 0.5); run.log_row('t', a=1); run.tag('k', 'v')\n"
        "open('f.txt', 'w').write('x'); run.upload_file('extra/f.txt', 'f.txt')\n"
        "run.flush()\n"
        "import json\n"
        "bad = sorted(m for m in set(sys.modules) - BEFORE if m.split('.')[0] not in "
        "sys.stdlib_module_names and m.split('.')[0] != 'runner')\n"
        "print(json.dumps([type(run).__name__, bad]))\n"
    )
    with ServerThread(ws, token="t0k") as srv:
        env = {**os.environ, **_context.remote_context_environ(srv.url, run_id, exp.name, "t0k")}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)

    assert 0 == proc.returncode, proc.stderr
    assert ["RemoteRun", []] == json.loads(proc.stdout.splitlines()[-1])
    run = Run.get(ws, run_id)
    assert {"loss": 0.5, "t": {"a": 1}} == run.get_metrics()
    assert {"k": "v"} == run.get_tags()
    assert ["extra/f.txt"] == run.get_file_names()


def test_values_logged_in_a_tight_loop_arrive_in_a_few_batches(
        ws: Workspace, exp: Experiment, script_run):
    """20,000 values logged at once arrive in order in a handful of requests, not one each."""
    run_id = script_run()
    with ServerThread(ws) as srv:
        run = _remote(srv.url, run_id, exp)
        for i in range(20_000):
            run.log("x", float(i))
        run.flush(30)
        run._http.close(5)

    assert [float(i) for i in range(20_000)] == Run.get(ws, run_id).get_metrics()["x"]
    assert _chunks(ws, run_id, "x") <= 10


def test_while_the_server_is_down_logging_does_not_block_and_nothing_is_lost(
        ws: Workspace, exp: Experiment, script_run):
    """Logging with no server is as fast as ever; once the server is up every value
    queued meanwhile arrives, in order."""
    port = _free_port()
    run_id = script_run()
    run = _remote(f"http://127.0.0.1:{port}", run_id, exp)
    started = time.perf_counter()
    for i in range(5_000):
        run.log("x", float(i))
        if i % 1000 == 0:
            run._write_pending()  # as the flusher thread does, now, while nobody listens
    run.tag("phase", "offline")
    loop_seconds = time.perf_counter() - started
    time.sleep(1.0)  # the sender fails and backs off meanwhile

    with ServerThread(ws, port=port):
        run.flush(30)
        run._http.close(5)

    assert loop_seconds < 0.5, f"logging took {loop_seconds:.3f} s while the server was down"
    assert [float(i) for i in range(5_000)] == Run.get(ws, run_id).get_metrics()["x"]
    assert {"phase": "offline"} == ws.store.tags(run_id)


def test_a_slow_server_never_blocks_the_loop(ws: Workspace, exp: Experiment, script_run):
    """A server that accepts connections but never answers costs the loop nothing."""
    run_id = script_run()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        run = _remote(f"http://127.0.0.1:{silent.getsockname()[1]}", run_id, exp)
        started = time.perf_counter()
        for i in range(2_000):
            run.log("x", float(i))
            if i % 500 == 0:
                run._write_pending()
        loop_seconds = time.perf_counter() - started
        closing = time.perf_counter()
        run._http.close(0.5)
        close_seconds = time.perf_counter() - closing

    assert loop_seconds < 0.5
    assert close_seconds < 3


def test_past_the_buffer_the_oldest_writes_are_dropped_and_reported(
        ws: Workspace, exp: Experiment, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], script_run):
    """With a small buffer and no server, old batches are dropped (counted, reported on
    stderr) and the newest ones still arrive when the server comes back."""
    monkeypatch.setattr(_http_store, "MAX_BUFFER_BYTES", 3_000)
    port = _free_port()
    run_id = script_run()
    run = _remote(f"http://127.0.0.1:{port}", run_id, exp)
    for batch in range(10):
        for i in range(100):
            run.log("x", float(batch * 100 + i))
        run._write_pending()

    with ServerThread(ws, port=port):
        run.flush(30)
        run._http.close(5)

    stored = Run.get(ws, run_id).get_metrics()["x"]
    dropped = run._http.sender.dropped["values"]
    assert dropped > 0
    assert 1000 == len(stored) + dropped
    assert 999.0 == stored[-1]
    assert "could not be sent" in capfd.readouterr().err


def test_exit_with_a_dead_server_is_bounded_and_reports_the_loss(
        ws: Workspace, exp: Experiment, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], script_run):
    """The exit flush gives up after its timeout and says what was not sent."""
    monkeypatch.setattr(_http_store, "EXIT_FLUSH_SECONDS", 0.5)
    run_id = script_run()
    run = _remote(f"http://127.0.0.1:{_free_port()}", run_id, exp)
    run.log("x", 1.0)
    run.log("x", 2.0)

    started = time.perf_counter()
    run._at_exit()
    seconds = time.perf_counter() - started

    assert seconds < 2
    err = capfd.readouterr().err
    assert "2 metric value(s)" in err and "dropped" in err


def test_a_script_exits_promptly_when_the_server_is_gone(ws: Workspace, exp: Experiment,
                                                         tmp_path, script_run):
    """A submitted-over-HTTP script whose server is unreachable still exits (0) within the
    exit flush limit, and its stderr says what was lost."""
    run_id = script_run()
    env = {**os.environ, **_context.remote_context_environ(
        f"http://127.0.0.1:{_free_port()}", run_id, exp.name)}
    code = "from runner import Run\nrun = Run.get_context()\nrun.log('x', 1.0)\nprint('done')\n"

    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    seconds = time.perf_counter() - started

    assert 0 == proc.returncode
    assert "done" in proc.stdout
    assert seconds < _http_store.EXIT_FLUSH_SECONDS + 5
    assert "could not be sent" in proc.stderr


def test_uploads_of_the_working_folders_outputs_are_left_to_the_wrapper(
        ws: Workspace, exp: Experiment, tmp_path, monkeypatch: pytest.MonkeyPatch, script_run):
    """upload_file of a file already in outputs/ sends nothing now (the job's wrapper syncs
    outputs/ at the end); another name is sent in the background."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "m.txt").write_text("m")
    (tmp_path / "other.txt").write_text("o")
    run_id = script_run()
    with ServerThread(ws) as srv:
        run = _remote(srv.url, run_id, exp)
        run.upload_file("outputs/m.txt", "outputs/m.txt")
        run.upload_file("other/o.txt", "other.txt")
        run.flush(30)
        run._http.close(5)

    assert ["other/o.txt"] == ws.store.artifacts(run_id)
    assert "o" == (ws.paths.run_dir(run_id) / "other" / "o.txt").read_text()


def test_what_a_dead_server_kept_from_the_script_is_spooled_and_replayed_once(
        ws: Workspace, exp: Experiment, tmp_path, script_run, monkeypatch):
    """With RUNNER_SPOOL_DIR set, closing with the server down writes the queued batch to
    the spool instead of dropping it; replaying sends it once, and a second replay (an
    answer lost, a wrapper restarted) stores nothing more."""
    from runner.api.remote_http import HttpClient, replay_spool

    run_id = script_run()
    spool = tmp_path / "spool"
    monkeypatch.setenv("RUNNER_SPOOL_DIR", str(spool))
    dead = f"http://127.0.0.1:{_free_port()}"
    run = _remote(dead, run_id, exp)
    for i in range(40):
        run.log("v", i)
    run._write_pending()
    run._http.close(0.3)

    with ServerThread(ws) as srv:
        client = HttpClient(srv.url)
        first = replay_spool(client, run_id, str(spool), time.monotonic() + 10)
        second = replay_spool(client, run_id, str(spool), time.monotonic() + 10)

    assert {"values": 0, "writes": 0} == first == second
    assert 1 == len(list(spool.glob("*.jsonl")))
    assert list(range(40)) == Run(exp, run_id).get_metrics()["v"]
    assert 0 == run._http.sender.dropped["values"]


def test_without_a_spool_what_cannot_be_sent_is_announced_as_lost(
        ws: Workspace, exp: Experiment, script_run, monkeypatch, capfd):
    """With no spool the values are dropped, counted, and announced in a runner-event line
    that the run's owner reads from the job's log."""
    from runner.api.remote_http import parse_event

    monkeypatch.delenv("RUNNER_SPOOL_DIR", raising=False)
    run = _remote(f"http://127.0.0.1:{_free_port()}", script_run(), exp)
    for i in range(5):
        run.log("v", i)
    run._write_pending()
    run._http.close(0.3)

    events = [parse_event(line) for line in capfd.readouterr().err.splitlines()]
    assert [{"values": 5, "writes": 0}] == [e["lost"] for e in events if e]


def test_child_runs_are_refused_on_a_remote_target_and_none_are_listed(
        ws: Workspace, exp: Experiment, script_run):
    """child_run() in a job on a cluster is a UsageError saying it is not supported and
    what to do instead; get_children() there is empty, which is then the truth."""
    from runner import UsageError

    with ServerThread(ws) as srv:
        run = _remote(srv.url, script_run(), exp)
        with pytest.raises(UsageError, match="not supported in a run on a remote") as info:
            run.child_run("part")
        children = list(run.get_children())
        run._http.close(1.0)

    assert "name prefix" in info.value.message
    assert [] == children
