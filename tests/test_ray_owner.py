"""The Ray owner's follow, log pump, stop and finalize paths, without a Ray head.

The owner under test is the real one, started by a real ``exp.submit``; what it talks
to is a small stand-in for the Ray Jobs REST API: a real HTTP server on loopback that
answers the endpoints the owner calls (version, packages, submit, job info, logs,
stop) from a scripted job. The tracking server is the real ``runner server``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner import Experiment, RayCluster, ScriptRunConfig

pytest.importorskip("uvicorn")

from runner.server import ServerThread


class FakeJobs(ThreadingHTTPServer):
    """The Jobs API of one scripted job: PENDING for ``pending`` s, then RUNNING with a
    log line every poll, for ``running`` s (None: until stopped), then ``final``."""

    daemon_threads = True

    def __init__(self, *, pending: float = 0.05, running: float | None = 0.3,
                 final: str = "SUCCEEDED", exit_code: int | None = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pending, self.running, self.final, self.exit_code = pending, running, final, exit_code
        self.packages: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeJobs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)

    def info(self, job: dict) -> dict:
        """The job's details now, advancing its script (called under ``lock``)."""
        age = time.monotonic() - job["submitted"]
        if job["status"] == "PENDING" and age >= self.pending:
            job.update(status="RUNNING", start_time=int(time.time() * 1000),
                       driver_node_id="fake-node")
        if job["status"] == "RUNNING":
            job["logs"] += f"line {len(job['logs'].splitlines()) + 1}\n"
            if self.running is not None and age >= self.pending + self.running:
                job.update(status=self.final, driver_exit_code=self.exit_code,
                           end_time=int(time.time() * 1000), message=f"Job {self.final}")
        return {k: v for k, v in job.items() if k not in ("submitted", "logs", "request")}


class _Handler(BaseHTTPRequestHandler):
    server: FakeJobs

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, payload: object = None) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_text(self, text: str) -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        fake = self.server
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/")
        parts = path.split("/")[1:]  # api, jobs|packages|version, ...
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.calls.append(f"{method} {path}")
            if parts == ["api", "version"]:
                return self._send(200, {"version": "fake", "ray_version": "2.60.0"})
            if parts[:3] == ["api", "packages", "gcs"] and len(parts) == 4:
                if method == "PUT":
                    fake.packages[parts[3]] = body
                    return self._send(200, {})
                return self._send(200 if parts[3] in fake.packages else 404, {})
            if parts == ["api", "jobs"] and method == "POST":
                request = json.loads(body)
                sid = request["submission_id"]
                fake.jobs[sid] = {"status": "PENDING", "submission_id": sid,
                                  "job_id": "02000000", "logs": "", "request": request,
                                  "submitted": time.monotonic()}
                return self._send(200, {"job_id": "02000000", "submission_id": sid})
            if parts[:3] == ["api", "v0", "logs"] and parts[3:] in (["file"], ["stream"]):
                # The State API's driver log: the file so far (the stream ends there
                # too; the owner reconnects and skips what it has).
                query = urllib.parse.parse_qs(url.query)
                job = fake.jobs.get((query.get("submission_id") or [""])[0])
                if job is None:
                    return self._send(404, {"message": "no such job"})
                return self._send_text(job["logs"])
            job = fake.jobs.get(parts[2]) if len(parts) >= 3 else None
            if job is None:
                return self._send(404, {"message": "no such job"})
            if len(parts) == 3 and method == "GET":
                return self._send(200, fake.info(job))
            if parts[3:] == ["logs"]:
                return self._send(200, {"logs": job["logs"]})
            if parts[3:] == ["stop"] and method == "POST":
                stopped = job["status"] in ("PENDING", "RUNNING")
                if stopped:
                    job.update(status="STOPPED", message="Job was intentionally stopped.",
                               end_time=int(time.time() * 1000))
                return self._send(200, {"stopped": stopped})
            return self._send(404, {"message": f"no route {method} {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


def _submit(exp: Experiment, tmp_path: Path, fake: FakeJobs, tracking: ServerThread,
            **config: object):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "train.py").write_text("print('training')\n")
    run_config = ScriptRunConfig(str(tmp_path / "src"), "train.py", arguments=["--lr", "0.1"],
                                 compute_target=RayCluster(fake.address,
                                                           tracking_uri=tracking.url),
                                 **config)
    return exp.submit(run_config)


@pytest.fixture
def tracking(exp: Experiment):
    """The workspace's real tracking server on a free loopback port."""
    with ServerThread(exp.workspace) as server:
        yield server


def test_a_job_that_succeeds_is_followed_to_completed_with_its_log(
        exp: Experiment, tmp_path: Path, tracking: ServerThread):
    """PENDING, RUNNING, SUCCEEDED: the run goes Queued to Completed, the driver log is
    stored whole, and the record keeps the job's id and Ray's details."""
    with FakeJobs() as fake:
        run = _submit(exp, tmp_path, fake, tracking)
        details = run.wait_for_completion()
        job = fake.jobs[run.id]

    log = (run.folder / "logs" / "std_log.txt").read_text()
    row = exp.workspace.store.get_run(run.id)
    assert "Completed" == details["status"]
    assert job["logs"] == log and log.startswith("line 1\n")
    assert 0 == row["exit_code"]
    assert {"status": "SUCCEEDED", "driver_exit_code": 0, "job_id": "02000000"}.items() <= (
        row["system"]["ray"].items())
    assert "02000000" == run.get_properties()["ray.job_id"]
    assert run.id == job["request"]["metadata"]["runner_run_id"]
    assert [f"GET /api/packages/gcs/{name}" for name in fake.packages] == [
        c for c in fake.calls if c.startswith("GET /api/packages")]
    assert not [c for c in fake.calls if c.endswith("/stop")]


def test_a_job_that_fails_is_failed_with_its_exit_code(
        exp: Experiment, tmp_path: Path, tracking: ServerThread):
    """A FAILED job with driver exit code 3 is a Failed run naming exit code 3."""
    with FakeJobs(final="FAILED", exit_code=3) as fake:
        run = _submit(exp, tmp_path, fake, tracking)
        details = run.wait_for_completion(raise_on_error=False)

    assert "Failed" == details["status"]
    assert 3 == exp.workspace.store.get_run(run.id)["exit_code"]
    assert "exit code 3" in details["error"]["error"]["message"]


def test_cancel_stops_the_job_and_the_run_is_canceled(
        exp: Experiment, tmp_path: Path, tracking: ServerThread):
    """run.cancel() on a running job sends one stop to the Jobs API; the run ends
    Canceled with the log the job wrote until then."""
    with FakeJobs(running=None) as fake:
        run = _submit(exp, tmp_path, fake, tracking)
        deadline = time.monotonic() + 10
        while run.get_status() != "Running" and time.monotonic() < deadline:
            time.sleep(0.05)
        run.cancel()
        details = run.wait_for_completion(raise_on_error=False)
        job = fake.jobs[run.id]

    assert "Canceled" == details["status"]
    assert [f"POST /api/jobs/{run.id}/stop"] == [c for c in fake.calls if c.endswith("/stop")]
    assert "STOPPED" == job["status"]
    assert job["logs"] == (run.folder / "logs" / "std_log.txt").read_text()


def test_the_time_limit_stops_the_job(exp: Experiment, tmp_path: Path, tracking: ServerThread):
    """A job running past max_run_duration_seconds is stopped, and the run says why."""
    with FakeJobs(running=None) as fake:
        run = _submit(exp, tmp_path, fake, tracking, max_run_duration_seconds=0.2)
        details = run.wait_for_completion(raise_on_error=False)

    assert [f"POST /api/jobs/{run.id}/stop"] == [c for c in fake.calls if c.endswith("/stop")]
    assert details["status"] in ("Failed", "Canceled")
    assert "0.2" in json.dumps(details["error"])
