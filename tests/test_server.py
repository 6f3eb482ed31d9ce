"""The tracking server: tokens, artifact names, streamed uploads, metric batches, reads."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import Experiment, Run, UsageError, Workspace
from runner.cli.main import cli
from runner.store import proc as _proc

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from runner.server import ServerThread, check_bind, is_loopback


def _script_run(ws: Workspace, exp: Experiment, run_type: str = "script") -> str:
    """A Running run owned by this process, as a supervisor would have made it."""
    run_id = f"srv_{os.urandom(4).hex()}"
    pid, started = _proc.identity()
    now = time.time()
    ws.store.insert_run(run_id, exp.name, type=run_type, status="Running", created=now,
                        start_time=now, owner_pid=pid, owner_start=started)
    ws.paths.run_dir(run_id).mkdir(parents=True)
    return run_id


def _request(server: ServerThread, method: str, path: str, body: bytes | None = None,
             token: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, (json.loads(raw) if raw and raw[:1] in b"{[" else {"raw": raw})


@pytest.fixture
def server(ws: Workspace):
    with ServerThread(ws) as srv:
        yield srv


# ----------------------------------------------------------------------------- auth


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.0.2.7", False), ("head.example", False),
])
def test_loopback_hosts_are_told_apart(host: str, loopback: bool):
    """Only localhost and 127.0.0.0/8 / ::1 count as loopback."""
    assert loopback == is_loopback(host)


def test_serving_beyond_loopback_without_a_token_is_refused_as_bad_input():
    """A non-loopback address needs a token; with one it is allowed."""
    with pytest.raises(UsageError, match="needs a token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "s3cret", tls=True)
    check_bind("127.0.0.1", None)


def test_serving_beyond_loopback_without_tls_is_refused_unless_insecure():
    """A token in clear text over the network needs --certfile/--keyfile, or --insecure."""
    with pytest.raises(UsageError, match="without TLS") as info:
        check_bind("0.0.0.0", "s3cret")

    assert "--insecure" in info.value.message
    check_bind("0.0.0.0", "s3cret", insecure=True)


def test_runner_server_refuses_a_public_host_without_a_token(ws: Workspace):
    """`runner server --host 0.0.0.0` without --token exits 2 naming the fix."""
    result = CliRunner().invoke(cli, ["--workspace", str(ws.root), "server", "--host", "0.0.0.0"])

    assert 2 == result.exit_code
    assert "--token" in result.output


def test_with_a_token_every_request_needs_it(ws: Workspace, exp: Experiment):
    """No token or a wrong one is 401; the right bearer token is served."""
    run_id = _script_run(ws, exp)
    with ServerThread(ws, token="right-token") as srv:
        assert 401 == _request(srv, "GET", f"/api/v1/runs/{run_id}")[0]
        assert 401 == _request(srv, "GET", f"/api/v1/runs/{run_id}", token="wrong-token")[0]
        status, body = _request(srv, "GET", f"/api/v1/runs/{run_id}", token="right-token")

    assert 200 == status
    assert run_id == body["run"]["id"]


# ----------------------------------------------------------------------------- artifacts


@pytest.mark.parametrize("name", ["a/../../escape.txt", "..%2F..%2Fescape.txt", "%2Fetc%2Fx",
                                  "outputs/../../x"])
def test_artifact_names_that_leave_the_run_folder_are_refused(
        ws: Workspace, exp: Experiment, server: ServerThread, name: str):
    """Names with '..' or absolute paths are rejected like local uploads; nothing is written."""
    run_id = _script_run(ws, exp)

    status, _ = _request(server, "PUT", f"/api/v1/runs/{run_id}/artifacts/{name}", b"x")

    assert status in (400, 404)
    assert not (ws.root / "escape.txt").exists()
    assert not (ws.paths.runs / "escape.txt").exists()


def test_uploads_are_write_once_but_record_folders_are_replaced(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """A second upload of a name is 409; outputs/ files may be sent again; the owner's log
    cannot be uploaded."""
    run_id = _script_run(ws, exp)
    base = f"/api/v1/runs/{run_id}/artifacts"

    assert 201 == _request(server, "PUT", f"{base}/model.bin", b"one")[0]
    assert 409 == _request(server, "PUT", f"{base}/model.bin", b"two")[0]
    assert 201 == _request(server, "PUT", f"{base}/outputs/m.txt", b"one")[0]
    assert 201 == _request(server, "PUT", f"{base}/outputs/m.txt", b"two")[0]
    assert 409 == _request(server, "PUT", f"{base}/logs/std_log.txt", b"x")[0]

    run = Run.get(ws, run_id)
    assert b"one" == (run.folder / "model.bin").read_bytes()
    assert b"two" == (run.folder / "outputs" / "m.txt").read_bytes()
    assert ["model.bin", "outputs/m.txt"] == run.get_file_names()


def test_an_upload_is_streamed_to_disk_as_it_arrives(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """Half of an 8 MiB body is on disk before the client sends the other half."""
    run_id = _script_run(ws, exp)
    data = os.urandom(8 * 1024 * 1024)
    folder = ws.paths.run_dir(run_id) / "outputs"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", f"/api/v1/runs/{run_id}/artifacts/outputs/big.bin")
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    half = len(data) // 2
    for i in range(0, half, 64 * 1024):
        conn.send(data[i:i + 64 * 1024])

    partial = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        parts = list(folder.glob(".big.bin.*.part")) if folder.is_dir() else []
        partial = max([p.stat().st_size for p in parts] + [0])
        if partial >= half // 2:
            break
        time.sleep(0.02)
    conn.send(data[half:])
    resp = conn.getresponse()
    resp.read()
    conn.close()

    assert partial >= half // 2, "the server held the body in memory instead of writing it"
    assert 201 == resp.status
    written = (folder / "big.bin").read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(written).digest()
    assert [] == list(folder.glob("*.part")) + list(folder.glob(".*.part"))


def test_an_interrupted_upload_leaves_nothing_behind(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """A client that hangs up mid-body leaves no file and no registered artifact."""
    run_id = _script_run(ws, exp)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("PUT", f"/api/v1/runs/{run_id}/artifacts/cut.bin")
    conn.putheader("Content-Length", str(1024 * 1024))
    conn.endheaders()
    conn.send(b"x" * 1000)
    conn.close()

    folder = ws.paths.run_dir(run_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (list(folder.glob(".*.part"))
                                           or ws.store.artifacts(run_id)):
        time.sleep(0.05)
    assert [] == list(folder.glob(".*.part"))
    assert [] == ws.store.artifacts(run_id)
    assert not (folder / "cut.bin").exists()


# ----------------------------------------------------------------------------- writes


def test_a_retried_metric_batch_is_stored_once(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """The same (sender, seq) posted twice adds its values once; the next seq adds more."""
    run_id = _script_run(ws, exp)
    path = f"/api/v1/runs/{run_id}/metrics"

    def post(seq: int, values: list) -> dict:
        body = {"sender": "s1", "seq": seq,
                "metrics": [{"name": "loss", "kind": "scalar", "values": values, "steps": None}]}
        status, answer = _request(server, "POST", path, json.dumps(body).encode())
        assert 200 == status
        return answer

    post(1, [1.0, 2.0])
    assert post(1, [1.0, 2.0]).get("duplicate")
    post(2, [float("nan")])

    values = Run.get(ws, run_id).get_metrics()["loss"]
    assert [1.0, 2.0] == values[:2]
    assert 3 == len(values) and values[2] != values[2]


def test_bad_metric_entries_are_refused_with_the_reason(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """An unknown kind is a 400 that names the problem; nothing is stored."""
    run_id = _script_run(ws, exp)
    body = {"metrics": [{"name": "x", "kind": "blob", "values": [1], "steps": None}]}

    status, answer = _request(server, "POST", f"/api/v1/runs/{run_id}/metrics",
                              json.dumps(body).encode())

    assert 400 == status
    assert "kind" in answer["error"]
    assert {} == Run.get(ws, run_id).get_metrics()


def test_a_submitted_runs_status_cannot_be_set_but_its_failure_can(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """PATCH status of a script run is 409 (status comes from the exit); error is stored."""
    run_id = _script_run(ws, exp)
    error = {"error": {"code": "UserError", "message": "boom"}}

    assert 409 == _request(server, "PATCH", f"/api/v1/runs/{run_id}",
                           json.dumps({"status": "Completed"}).encode())[0]
    assert 200 == _request(server, "PATCH", f"/api/v1/runs/{run_id}",
                           json.dumps({"error": error}).encode())[0]

    row = ws.store.get_run(run_id)
    assert "Running" == row["status"]
    assert error == row["error"]


def test_an_interactive_runs_status_can_be_ended(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """PATCH status of a non-script run ends it with an end time."""
    run_id = _script_run(ws, exp, run_type="interactive")

    status, _ = _request(server, "PATCH", f"/api/v1/runs/{run_id}",
                         json.dumps({"status": "completed"}).encode())

    assert 200 == status
    row = ws.store.get_run(run_id)
    assert "Completed" == row["status"]
    assert row["end_time"] is not None


def test_tags_properties_and_heartbeats_are_recorded(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """Tags set and removed, properties added, a heartbeat answers the status."""
    run_id = _script_run(ws, exp)
    base = f"/api/v1/runs/{run_id}"

    _request(server, "POST", f"{base}/tags", json.dumps({"set": {"a": "1", "b": None}}).encode())
    _request(server, "POST", f"{base}/tags", json.dumps({"remove": ["b"]}).encode())
    _request(server, "POST", f"{base}/properties", json.dumps({"p": "v"}).encode())
    status, beat = _request(server, "POST", f"{base}/heartbeat", b"{}")

    assert {"a": "1"} == ws.store.tags(run_id)
    assert {"p": "v"} == ws.store.properties(run_id)
    assert (200, {"status": "Running", "cancel_requested": False}) == (status, beat)


def test_writes_to_an_unknown_run_are_404(server: ServerThread):
    """A run id the workspace does not have is a 404 with the reason."""
    status, body = _request(server, "PUT", "/api/v1/runs/nope/artifacts/x.txt", b"x")

    assert 404 == status
    assert "nope" in body["error"]


# ----------------------------------------------------------------------------- reads


def test_the_read_api_lists_runs_metrics_and_files(
        ws: Workspace, exp: Experiment, server: ServerThread):
    """Runs, shaped metrics and files (with their bytes) can be read back."""
    run_id = _script_run(ws, exp)
    ws.store.write_metrics(run_id, [("acc", "scalar", [0.5, 0.75], None, None)])
    outputs = ws.paths.run_dir(run_id) / "outputs"
    outputs.mkdir()
    (outputs / "m.txt").write_text("model")
    (ws.paths.run_dir(run_id) / ".sys").mkdir(exist_ok=True)
    (ws.paths.run_dir(run_id) / ".sys" / "status").write_text("Running")

    runs = _request(server, "GET", f"/api/v1/runs?experiment={exp.name}")[1]["runs"]
    metrics = _request(server, "GET", f"/api/v1/runs/{run_id}/metrics?raw=1")[1]
    files = _request(server, "GET", f"/api/v1/runs/{run_id}/files")[1]
    status, content = _request(server, "GET", f"/api/v1/runs/{run_id}/files/outputs/m.txt")
    hidden = _request(server, "GET", f"/api/v1/runs/{run_id}/files/.sys/status")[0]

    assert [run_id] == [r["id"] for r in runs]
    assert {"acc": [0.5, 0.75]} == metrics["metrics"]
    assert {"acc": ["scalar", [0.5, 0.75]]} == metrics["raw"]
    assert ["outputs/m.txt"] == files["files"]
    assert (200, b"model") == (status, content["raw"])
    assert 404 == hidden


def test_the_routes_mount_in_another_app(ws: Workspace, exp: Experiment):
    """routes() serve the same API from inside another Starlette app."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from runner.server import routes

    run_id = _script_run(ws, exp)
    app = Starlette(routes=[Mount("/track", routes=routes(ws))])
    done = threading.Event()
    results: dict = {}

    async def call() -> None:
        scope = {"type": "http", "method": "GET", "path": f"/track/api/v1/runs/{run_id}",
                 "raw_path": b"", "query_string": b"", "headers": [], "root_path": ""}
        sent: list = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        results["status"] = sent[0]["status"]
        results["body"] = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
        done.set()

    import asyncio

    asyncio.run(call())
    assert 200 == results["status"]
    assert run_id == results["body"]["run"]["id"]


def test_the_workspace_served_is_named_by_health(ws: Workspace, server: ServerThread):
    """/health names the served workspace, so a client can check it talks to the right one."""
    status, body = _request(server, "GET", "/api/v1/health")

    assert 200 == status
    assert str(ws.root) == body["workspace"]
    assert Path(body["workspace"]).is_dir()


def test_runner_server_serves_the_studio_beside_the_tracking_api(ws: Workspace):
    """With the studio installed, one server answers /api/v1 and the studio's /api."""
    pytest.importorskip("runner.studio.app")
    import asyncio

    from runner.server import create_app

    app = create_app(ws, studio=True)

    async def status(path: str) -> int:
        sent: list = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                   "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "root_path": "",
                   "scheme": "http", "server": ("127.0.0.1", 80)}, receive, send)
        return sent[0]["status"]

    assert (200, 200) == (asyncio.run(status("/api/v1/health")),
                          asyncio.run(status("/api/experiments")))


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runner test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def test_tls_on_loopback_with_a_self_signed_certificate(ws: Workspace, tmp_path: Path):
    """With --certfile/--keyfile the server speaks https; a client given the certificate as
    its CA is served, one without it refuses the connection."""
    from runner.api.remote_http import HttpClient, TransientError

    certfile, keyfile = _self_signed(tmp_path)
    with ServerThread(ws, certfile=str(certfile), keyfile=str(keyfile)) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        health = HttpClient(srv.url, ca_pem=certfile.read_text()).json("GET", "/api/v1/health")
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            HttpClient(srv.url).json("GET", "/api/v1/health")

    assert "ok" == health["status"]


def test_tls_needs_both_files(ws: Workspace, tmp_path: Path):
    """A certificate without its key is refused before anything is served."""
    certfile, _ = _self_signed(tmp_path)
    with pytest.raises(UsageError, match="both --certfile and --keyfile"):
        ServerThread(ws, certfile=str(certfile))


def test_a_per_run_token_opens_its_own_run_only_and_only_while_it_runs(ws: Workspace,
                                                                       exp: Experiment):
    """The token derived for run A writes A; it is 403 for run B and for listings, 401 with
    a forged MAC, and 409 for writes once A has ended; the workspace token opens all."""
    from runner.api.remote_http import per_run_token

    a, b = _script_run(ws, exp), _script_run(ws, exp)
    token = per_run_token("ws-token", a)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    batch = json.dumps({"sender": "s", "seq": 1, "metrics": [
        {"name": "m", "kind": "scalar", "values": [1], "steps": None}]}).encode()
    with ServerThread(ws, token="ws-token") as srv:
        own = _request(srv, "POST", f"/api/v1/runs/{a}/metrics", batch, token=token)[0]
        other = _request(srv, "POST", f"/api/v1/runs/{b}/metrics", batch, token=token)[0]
        listing = _request(srv, "GET", "/api/v1/runs", token=token)[0]
        bad = _request(srv, "POST", f"/api/v1/runs/{a}/metrics", batch, token=forged)[0]
        ws.store.update_run(a, status="Completed", end_time=time.time())
        late = _request(srv, "POST", f"/api/v1/runs/{a}/tags",
                        json.dumps({"set": {"k": "v"}}).encode(), token=token)[0]
        admin = _request(srv, "GET", "/api/v1/runs", token="ws-token")[0]

    assert (200, 403, 403, 401, 409, 200) == (own, other, listing, bad, late, admin)
    assert {"m": 1} == Run(exp, a).get_metrics()


def test_metrics_logged_to_a_finished_run_are_refused(ws: Workspace, exp: Experiment):
    """A metric batch for a run that has ended is a 409, with any token, and stores nothing."""
    run_id = _script_run(ws, exp)
    ws.store.update_run(run_id, status="Failed", end_time=time.time())
    batch = json.dumps({"metrics": [{"name": "m", "kind": "scalar", "values": [1],
                                     "steps": None}]}).encode()
    with ServerThread(ws) as srv:
        status, body = _request(srv, "POST", f"/api/v1/runs/{run_id}/metrics", batch)

    assert 409 == status
    assert "finished run" in body["error"]
    assert {} == Run(exp, run_id).get_metrics()


def test_a_batch_is_stored_once_even_across_a_server_restart(ws: Workspace, exp: Experiment):
    """The (sender, seq) key is kept in the store: a retry after a restart adds nothing."""
    run_id = _script_run(ws, exp)
    batch = json.dumps({"sender": "job-1", "seq": 7, "metrics": [
        {"name": "m", "kind": "scalar", "values": [1, 2], "steps": None}]}).encode()
    with ServerThread(ws) as srv:
        first = _request(srv, "POST", f"/api/v1/runs/{run_id}/metrics", batch)[1]
    with ServerThread(ws) as srv:
        again = _request(srv, "POST", f"/api/v1/runs/{run_id}/metrics", batch)[1]

    assert ({"stored": 2}, {"stored": 0, "duplicate": True}) == (first, again)
    assert {"m": [1, 2]} == Run(exp, run_id).get_metrics()
