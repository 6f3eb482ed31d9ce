"""Who may reach the studio and what it will serve: loopback Host names only without a
token, the token rule off loopback, files only from inside run and snapshot folders
(``..``, encoded ``..``, absolute paths and symlinks out are refused), security
headers; plus ``studio.json``, ``get_portal_url()`` and the ``runner studio`` command."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the studio extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the studio extra (uvicorn) is not installed")

from click.testing import CliRunner
from starlette.testclient import TestClient

from runner import Experiment, NotFoundError, UsageError, Workspace
from runner.cli.main import cli
from runner.studio import discovery as _discovery
from runner.studio import files as _files
from runner.studio.app import create_app
from runner.studio.server import StudioServer, check_binding

SECRET = "s3cret-token"


@pytest.fixture
def run(exp: Experiment, tmp_path: Path):
    """A completed run with outputs/ok.txt, a symlink out of its folder, and a snapshot
    holding a symlink out as well."""
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    os.symlink(outside, src / "link.txt")
    run = exp.start_logging(snapshot_directory=str(src), outputs=False)
    run.upload_file("outputs/ok.txt", io.StringIO("ok"))
    os.symlink(outside, run.folder / "outputs" / "escape.txt")
    run.complete()
    return run


@pytest.fixture
def server(ws: Workspace):
    """The studio of ``ws`` served by uvicorn on a free loopback port, in a thread."""
    with StudioServer(ws, port=0) as served:
        yield served


def _raw_get(server: StudioServer, path: str, host: str | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalization of ``..``)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host or f"127.0.0.1:{server.port}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ------------------------------------------------------------------------ files


def test_a_runs_own_file_is_served(server, run):
    """outputs/ok.txt of the run is served: the rules below refuse only what is outside."""
    assert (200, b"ok") == _raw_get(server, f"/api/runs/{run.id}/files/outputs/ok.txt")


@pytest.mark.parametrize("name", [
    "../../runner.db",
    "outputs/../../../runner.db",
    "%2e%2e/%2e%2e/runner.db",
    "%2E%2E%2F%2E%2E%2Frunner.db",
    "outputs/%2e%2e/%2e%2e/%2e%2e/config.yaml",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "outputs/escape.txt",
    "outputs\\..\\..\\runner.db",
    "outputs/ok.txt%00.png",
])
def test_run_file_paths_leaving_the_run_folder_are_refused(server, run, name):
    """.., encoded .., absolute paths, backslashes, NUL and a symlink out are all 404."""
    status, body = _raw_get(server, f"/api/runs/{run.id}/files/{name}")

    assert 404 == status
    assert b"secret" not in body and b"SQLite" not in body


@pytest.mark.parametrize("path", [
    "link.txt", "../MANIFEST.json", "%2e%2e/MANIFEST.json", "%2e%2e/%2e%2e/%2e%2e/runner.db",
    "/etc/passwd", "a.py/../../MANIFEST.json",
])
def test_snapshot_paths_leaving_the_snapshot_are_refused(server, run, path):
    """A symlink in the snapshot, .. (plain or encoded) and absolute paths are 404."""
    status, body = _raw_get(server, f"/api/runs/{run.id}/snapshot/files/{path}")

    assert 404 == status
    assert b"secret" not in body


def test_a_snapshot_file_is_served(server, run):
    """a.py of the snapshot is served: the refusals above are not blanket ones."""
    assert (200, b"x = 1\n") == _raw_get(server, f"/api/runs/{run.id}/snapshot/files/a.py")


def test_inside_refuses_every_way_out(tmp_path: Path):
    """inside() accepts a file under the folder and refuses .., absolute, NUL, folders,
    missing files and symlinks that lead out."""
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "f.txt").write_text("f")
    (tmp_path / "out.txt").write_text("out")
    os.symlink(tmp_path / "out.txt", base / "out-link")
    os.symlink(base / "sub" / "f.txt", base / "in-link")

    assert (base / "sub" / "f.txt").resolve() == _files.inside(base, "sub/f.txt")
    assert (base / "sub" / "f.txt").resolve() == _files.inside(base, "in-link")
    for bad in ("../out.txt", "sub/../../out.txt", "/etc/passwd", "sub\\f.txt", "sub//f.txt",
                "sub/f.txt\x00", "sub", "missing", "out-link", ""):
        with pytest.raises(NotFoundError):
            _files.inside(base, bad)


# ------------------------------------------------------------------ Host, token


def test_a_foreign_host_name_is_refused_on_loopback(server, ws):
    """Without a token only loopback Host names are answered (DNS rebinding gets 403)."""
    assert 403 == _raw_get(server, "/api/experiments", host="evil.example:8765")[0]
    assert 200 == _raw_get(server, "/api/experiments", host=f"localhost:{server.port}")[0]
    assert 200 == _raw_get(server, "/api/experiments", host=f"[::1]:{server.port}")[0]


def test_with_a_token_every_request_must_carry_it(ws: Workspace):
    """No token: 401 (JSON under /api/); a wrong one: 401; a Bearer header: 200."""
    client = TestClient(create_app(ws, token=SECRET), base_url="http://studio.example")

    api = client.get("/api/experiments")
    page = client.get("/")
    static = client.get("/static/common.js")
    wrong = client.get("/api/experiments", headers={"Authorization": "Bearer nope"})
    right = client.get("/api/experiments", headers={"Authorization": f"Bearer {SECRET}"})

    assert (401, "unauthorized") == (api.status_code, api.json()["error"])
    assert (401, 401, 401, 200) == (page.status_code, static.status_code, wrong.status_code,
                                    right.status_code)


def test_a_token_in_the_address_sets_a_cookie_and_is_dropped_from_it(ws: Workspace):
    """?token= on a page sets an HttpOnly SameSite cookie and redirects without it."""
    client = TestClient(create_app(ws, token=SECRET), base_url="http://studio.example")

    first = client.get(f"/runs?status=Failed&token={SECRET}", follow_redirects=False)
    cookie = first.headers["set-cookie"]
    later = client.get("/runs")  # the client keeps the cookie

    assert (303, "/runs?status=Failed") == (first.status_code, first.headers["location"])
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert 200 == later.status_code


def test_a_token_in_an_api_address_is_accepted(ws: Workspace):
    """?token= on an API request answers it directly (no redirect)."""
    client = TestClient(create_app(ws, token=SECRET), base_url="http://studio.example")

    assert 200 == client.get(f"/api/experiments?token={SECRET}").status_code
    assert 401 == client.get("/api/experiments?token=wrong").status_code


def test_responses_carry_security_headers(ws: Workspace):
    """Pages forbid framing, sniffing and foreign scripts."""
    client = TestClient(create_app(ws), base_url="http://127.0.0.1:8765")

    headers = client.get("/").headers

    assert ("nosniff", "DENY") == (headers["x-content-type-options"], headers["x-frame-options"])
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_serving_off_loopback_without_a_token_is_refused_as_bad_input():
    """0.0.0.0 or a LAN address needs a token; loopback addresses do not."""
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(UsageError, match="--token"):
            check_binding(host, None)
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        check_binding(host, None)
    check_binding("0.0.0.0", SECRET)


# ---------------------------------------------------------------- studio.json


def test_the_portal_url_is_the_studio_page_while_a_studio_serves(ws: Workspace, exp: Experiment):
    """get_portal_url() names the run's studio page while serving, its folder after."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with StudioServer(ws, port=0) as served:
        record = json.loads(_discovery.studio_file(ws.paths).read_text())
        during = run.get_portal_url()
    after = run.get_portal_url()
    run.complete()

    assert (served.url, os.getpid()) == (record["url"], record["pid"])
    assert f"{served.url}/runs/{run.id}" == during
    assert run.folder.resolve().as_uri() == after
    assert not _discovery.studio_file(ws.paths).exists()


def test_a_studio_record_of_a_dead_process_is_ignored(ws: Workspace, exp: Experiment):
    """A studio killed without cleaning up leaves a record naming a dead pid: ignored."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _discovery.studio_file(ws.paths).write_text(json.dumps(
        {"url": "http://127.0.0.1:1", "pid": proc.pid, "start": time.time(), "port": 1}))
    run = exp.start_logging(snapshot_directory=None, outputs=False)

    assert run.get_portal_url().startswith("file://")
    run.complete()


def test_stopping_the_server_ends_open_live_log_streams(ws: Workspace, exp: Experiment):
    """A browser following a live run's log does not hold the server open when it stops."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    served = StudioServer(ws, port=0, register=False).start()
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("GET", f"/api/runs/{run.id}/log/stream")
    response = conn.getresponse()
    first = response.read1()

    started = time.monotonic()
    served.stop()
    elapsed = time.monotonic() - started
    rest = first + response.read()
    conn.close()
    run.complete()

    assert 200 == response.status
    assert elapsed < 1.0
    assert b"event: status" in rest


def test_a_port_in_use_is_refused_as_bad_input(ws: Workspace):
    """Serving on a taken port says so and how to pick another."""
    with StudioServer(ws, port=0) as served:
        with pytest.raises(UsageError, match="--port"):
            StudioServer(ws, port=served.port)


# ------------------------------------------------------------------------ CLI


def test_runner_studio_refuses_a_public_address_without_a_token(ws: Workspace):
    """`runner studio --host 0.0.0.0` exits 2 with a message naming --token."""
    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), "studio", "--host",
                                      "0.0.0.0"])

    assert 2 == result.exit_code
    assert "--token" in result.output


def test_runner_studio_takes_its_token_from_the_environment(ws: Workspace, monkeypatch):
    """RUNNER_STUDIO_TOKEN stands for --token, so a public address is accepted."""
    seen = {}

    class FakeServer:
        def __init__(self, workspace, host, port, token):
            seen.update(host=host, port=port, token=token)
            self.url = f"http://{host}:{port}"

        def serve(self, on_started):
            on_started()

    monkeypatch.setattr("runner.studio.server.StudioServer", FakeServer)
    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), "studio", "--host",
                                      "0.0.0.0", "--port", "9999"],
                                env={"RUNNER_STUDIO_TOKEN": SECRET})

    assert 0 == result.exit_code, result.output
    assert {"host": "0.0.0.0", "port": 9999, "token": SECRET} == seen
    assert f"?token={SECRET}" in result.output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_runner_studio_serves_until_stopped_and_cleans_up(ws: Workspace, signum: int):
    """The command prints its address, answers requests, and on Ctrl-C or SIGTERM stops,
    removes studio.json and exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "--workspace", str(ws.root), "studio", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0].rstrip("/")
        host, port = url.split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/api/experiments")
        status = conn.getresponse().status
        conn.close()
        served = _discovery.serving(ws.paths)
    finally:
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=20)

    assert 200 == status
    assert url == served["url"]
    assert 0 == proc.returncode, err
    assert not _discovery.studio_file(ws.paths).exists()


def test_runner_studio_without_the_studio_extra_says_what_to_install(ws: Workspace):
    """Without starlette installed the command exits 2 naming `runner[studio]`."""
    code = ("import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None; "
            "from runner.cli.main import main; main(sys.argv[1:])")
    proc = subprocess.run([sys.executable, "-c", code, "--workspace", str(ws.root), "studio"],
                          capture_output=True, text=True, timeout=60)

    assert 2 == proc.returncode
    assert "runner[studio]" in proc.stderr
