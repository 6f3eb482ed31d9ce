"""The studio's JSON API and pages, through Starlette's test client: what each endpoint
returns, filtering and sorting runs, metric series, files, snapshots, the live log
stream, cancelling, and the OpenAPI document that describes it all."""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the studio extra (starlette) is not installed")

from starlette.routing import Route
from starlette.testclient import TestClient

from runner import Experiment, Run, Workspace
from runner.studio import api as _api
from runner.studio.app import create_app

BASE = "http://127.0.0.1:8765"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    """A test client of the studio of ``ws``, on a loopback address."""
    with TestClient(create_app(ws, csrf="test-csrf"), base_url=BASE) as c:
        yield c


@pytest.fixture
def runs(ws: Workspace, tmp_path: Path):
    """Runs of experiments 'train' (done, failed, running) and 'other' (done)."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('hi')\n")
    (src / "pkg" / "data.bin").write_bytes(b"\x00\x01\x02")
    train = Experiment(ws, "train")
    done = train.start_logging(snapshot_directory=str(src), outputs=False,
                               display_name="first", tags={"lr": "0.1", "best": None})
    done.log_list("loss", [1.0, 0.5, 0.25])
    done.log("acc", 0.9)
    done.log("note", "ok")
    done.log_list("words", ["a", "b"])
    for i in range(5):
        done.log_row("curve", x=i / 10, y=math.sin(i / 10))
    done.log_table("grid", {"name": ["a", "b"], "kind": ["x", "y"]})
    done.upload_file("outputs/plot.png", io.BytesIO(PNG))
    done.log_image("picture", str(_png(tmp_path)))
    done.upload_file("outputs/notes.txt", io.StringIO("notes"))
    done.complete()
    failed = train.start_logging(snapshot_directory=None, outputs=False, tags={"lr": "0.01"})
    failed.log_list("loss", [2.0, 1.0])
    failed.log("acc", 0.7)
    failed.fail("diverged")
    live = train.start_logging(snapshot_directory=None, outputs=False, display_name="live one")
    other = Experiment(ws, "other").start_logging(snapshot_directory=None, outputs=False)
    other.log("acc", 0.8)
    other.complete()
    yield {"done": done, "failed": failed, "live": live, "other": other}
    live.complete()


def _png(folder: Path) -> Path:
    path = folder / "picture.png"
    path.write_bytes(PNG)
    return path


def _page_data(html: str):
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html,
                      re.S)
    assert found, "the page embeds its data"
    return json.loads(found.group(1))


# -------------------------------------------------------------------- listings


def test_experiments_have_run_counts_by_status_and_last_activity(client, runs):
    """/api/experiments counts each experiment's top-level runs by status."""
    items = {e["name"]: e for e in client.get("/api/experiments").json()}

    assert {"Completed": 1, "Failed": 1, "Running": 1} == items["train"]["statuses"]
    assert (3, 1) == (items["train"]["runs"], items["other"]["runs"])
    assert items["train"]["last_activity"].endswith("Z")


def test_runs_are_listed_newest_first_with_last_metric_values_and_tags(client, runs):
    """/api/runs gives every run, newest first, its last scalar values and tags."""
    body = client.get("/api/runs").json()

    ids = [r["id"] for r in body["runs"]]
    assert [runs[k].id for k in ("other", "live", "failed", "done")] == ids
    first = body["runs"][3]
    assert ({"acc": 0.9, "loss": 0.25, "note": "ok", "words": "b"}, {"lr": "0.1", "best": None}) \
        == (first["metrics"], first["tags"])
    assert (4, False) == (body["total"], body["has_more"])
    assert {"acc", "loss"} <= set(body["metric_names"])


def test_runs_filter_by_experiment_status_tag_and_text(client, runs):
    """Each filter narrows the list; filters combine."""
    def ids(query: str) -> list[str]:
        return [r["id"] for r in client.get("/api/runs?" + query).json()["runs"]]

    assert [runs["done"].id] == ids("experiment=train&status=completed")
    assert [runs["failed"].id] == ids("tag=lr=0.01")
    assert {runs["done"].id, runs["failed"].id} == set(ids("tag=lr"))
    assert [runs["live"].id] == ids("q=LIVE")
    assert [runs["done"].id] == ids("q=best")
    assert [] == ids("experiment=other&status=Failed")


def test_runs_sort_by_a_metric_either_way(client, runs):
    """sort=metric:acc orders by the last acc value; runs without it come last when desc."""
    def order(query: str) -> list[str]:
        return [r["id"] for r in client.get("/api/runs?" + query).json()["runs"]]

    desc = order("sort=metric:acc")
    asc = order("sort=metric:acc&order=asc")

    assert [runs["done"].id, runs["other"].id, runs["failed"].id, runs["live"].id] == desc
    assert [runs["live"].id, runs["failed"].id, runs["other"].id, runs["done"].id] == asc


def test_runs_are_paginated(client, runs):
    """per_page and page cut the list; has_more says whether a next page exists."""
    first = client.get("/api/runs?per_page=3").json()
    second = client.get("/api/runs?per_page=3&page=2").json()
    by_name = client.get("/api/runs?sort=name&order=asc&per_page=3&page=2").json()

    assert (3, True, 4) == (len(first["runs"]), first["has_more"], first["total"])
    assert (1, False) == (len(second["runs"]), second["has_more"])
    assert (1, 4, False) == (len(by_name["runs"]), by_name["total"], by_name["has_more"])


@pytest.mark.parametrize("query", ["status=Bogus", "sort=colour", "order=up", "page=0",
                                   "per_page=9999", "page=x"])
def test_bad_listing_parameters_are_400_with_a_message(client, runs, query):
    """Unknown statuses, sort keys, orders and pages are refused with a reason."""
    response = client.get("/api/runs?" + query)

    assert 400 == response.status_code
    assert "bad_request" == response.json()["error"]
    assert response.json()["message"]


def test_the_runs_page_embeds_its_first_page(client, runs):
    """The runs page carries the first page of runs, so it needs no second request."""
    response = client.get("/experiments/train?status=Completed")

    data = _page_data(response.text)
    assert 200 == response.status_code
    assert [runs["done"].id] == [r["id"] for r in data["result"]["runs"]]
    assert "Completed" == data["query"]["status"]


def test_pages_answer_for_every_view(client, runs):
    """The experiments, runs, run and compare pages are HTML with their scripts."""
    done = runs["done"].id
    for path in ("/", "/runs", "/experiments/train", f"/runs/{done}",
                 f"/compare?runs={done},{runs['failed'].id}"):
        response = client.get(path)
        assert 200 == response.status_code, path
        assert "text/html" in response.headers["content-type"]
        assert '<script src="/static/common.js' in response.text


def test_pages_embed_user_text_without_letting_it_become_markup(client, exp: Experiment):
    """A display name holding markup stays text: escaped in the title, \u003c in the data."""
    evil = "</script><img src=x onerror=alert(1)>"
    run = exp.start_logging(snapshot_directory=None, outputs=False, display_name=evil)
    run.complete()

    html = client.get(f"/runs/{run.id}").text

    assert evil not in html
    assert "&lt;/script&gt;" in html
    assert evil == _page_data(html)["display_name"]


def test_unknown_things_are_404_as_json_or_as_a_page(client, runs):
    """A missing run is a JSON 404 under /api/ and an HTML 404 page elsewhere."""
    api = client.get("/api/runs/nope")
    page = client.get("/runs/nope")
    experiment = client.get("/experiments/nope")

    assert (404, "not_found") == (api.status_code, api.json()["error"])
    assert (404, 404) == (page.status_code, experiment.status_code)
    assert "no run &#x27;nope&#x27;" in page.text


# ------------------------------------------------------------------------- run


def test_a_run_has_its_details_tags_and_failure(client, runs):
    """/api/runs/<id> gives status, times, tags, snapshot and the error of a failed run."""
    done = client.get(f"/api/runs/{runs['done'].id}").json()
    failed = client.get(f"/api/runs/{runs['failed'].id}").json()

    assert ("Completed", False, "first", {"lr": "0.1", "best": None}) == (
        done["status"], done["live"], done["display_name"], done["tags"])
    assert done["snapshot_id"] and done["duration"] >= 0
    assert ("Failed", "diverged") == (failed["status"], failed["error"]["message"])


def test_a_run_lists_its_children(client, runs):
    """Child runs appear in the run's summary and at /children."""
    child = runs["live"].child_run(name="kid")
    child.complete()

    children = client.get(f"/api/runs/{runs['live'].id}/children").json()

    assert [(child.id, "kid", "Completed")] == [
        (c["id"], c["display_name"], c["status"]) for c in children]


def test_metrics_say_how_each_is_shown(client, runs):
    """A repeated scalar is a line, a table an x-y chart, a single value a value, text a
    list, a table of words a table, an image an image."""
    items = {m["name"]: m for m in client.get(f"/api/runs/{runs['done'].id}/metrics").json()}

    assert {"loss": "line", "curve": "xy", "acc": "value", "note": "value", "words": "text",
            "grid": "table", "picture": "image"} == {n: m["chart"] for n, m in items.items()}
    assert (3, 0.25) == (items["loss"]["count"], items["loss"]["last"])
    assert {"name": ["a", "b"], "kind": ["x", "y"]} == items["grid"]["rows"]
    assert ["picture.png"] == items["picture"]["images"]


def test_a_series_is_downsampled_to_the_points_asked(ws, client, exp: Experiment):
    """A 50,000-point metric asked as 200 points gives at most 200, spike included."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    values = [float(i % 10) for i in range(50_000)]
    values[40_000] = 1234.5
    run.log_list("long", values)
    run.complete()

    body = client.get(f"/api/runs/{run.id}/series", params={"name": "long",
                                                          "points": 200}).json()

    assert len(body["x"]) <= 200
    assert (50_000, True, "scalar") == (body["count"], body["downsampled"], body["kind"])
    assert 1234.5 in body["y"]


def test_a_table_series_has_x_and_lines(client, runs):
    """A logged table comes back as x values and one line per other column."""
    body = client.get(f"/api/runs/{runs['done'].id}/series?name=curve").json()

    assert ("x", 5, ["y"]) == (body["x_name"], len(body["x"]),
                               [s["name"] for s in body["series"]])


def test_non_finite_values_are_null_in_json(client, exp: Experiment):
    """NaN and infinities are sent as null (JSON has no such numbers)."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log_list("odd", [1.0, math.nan, math.inf, 2.0])
    run.complete()

    assert [1.0, None, None, 2.0] == client.get(
        f"/api/runs/{run.id}/series?name=odd").json()["y"]


@pytest.mark.parametrize("query,code", [("name=missing", 404), ("name=loss&points=1", 400),
                                        ("", 400), ("name=picture", 400)])
def test_bad_series_requests_are_refused(client, runs, query, code):
    """A missing metric is 404; no name, too few points or an image is 400."""
    assert code == client.get(f"/api/runs/{runs['done'].id}/series?{query}").status_code


# ----------------------------------------------------------------------- files


def test_files_are_listed_with_sizes_and_downloaded(client, runs):
    """/files lists outputs and uploads; each downloads as an attachment."""
    run_id = runs["done"].id
    listed = {f["name"]: f for f in client.get(f"/api/runs/{run_id}/files").json()}
    download = client.get(f"/api/runs/{run_id}/files/outputs/notes.txt")

    assert {"outputs/plot.png", "outputs/notes.txt", "picture.png"} <= set(listed)
    assert (5, False, True) == (listed["outputs/notes.txt"]["size"],
                                listed["outputs/notes.txt"]["image"],
                                listed["outputs/plot.png"]["image"])
    assert ("notes", "attachment") == (download.text,
                                       download.headers["content-disposition"].split(";")[0])


def test_an_image_is_shown_inline_only_when_asked(client, runs):
    """?inline=1 serves an image as image/png inline; a text file stays an attachment."""
    run_id = runs["done"].id
    image = client.get(f"/api/runs/{run_id}/files/outputs/plot.png?inline=1")
    text = client.get(f"/api/runs/{run_id}/files/outputs/notes.txt?inline=1")

    assert (PNG, "image/png") == (image.content, image.headers["content-type"])
    assert "content-disposition" not in image.headers or \
        image.headers["content-disposition"].startswith("inline")
    assert text.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in image.headers["content-security-policy"]


def test_the_snapshot_is_listed_and_its_files_viewed(client, runs):
    """/snapshot lists entries; view=1 gives a text file's text, None for binary."""
    run_id = runs["done"].id
    snapshot = client.get(f"/api/runs/{run_id}/snapshot").json()
    text = client.get(f"/api/runs/{run_id}/snapshot/files/train.py?view=1").json()
    binary = client.get(f"/api/runs/{run_id}/snapshot/files/pkg/data.bin?view=1").json()
    raw = client.get(f"/api/runs/{run_id}/snapshot/files/pkg/data.bin")

    assert {"train.py", "pkg/data.bin"} <= {e["path"] for e in snapshot["entries"]}
    assert ("print('hi')\n", None) == (text["text"], binary["text"])
    assert b"\x00\x01\x02" == raw.content


def test_a_run_without_a_snapshot_says_so(client, runs):
    """A run with no snapshot gives 404 with a message."""
    response = client.get(f"/api/runs/{runs['failed'].id}/snapshot")

    assert (404, True) == (response.status_code, "no snapshot" in response.json()["message"])


# ------------------------------------------------------------------------- logs


def _events(text: str) -> list[tuple[str, dict, str | None]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return out


def test_the_log_stream_of_an_ended_run_sends_every_line_then_ends(client, runs):
    """For a finished run: its status, every line (an unterminated last one too), end."""
    run = runs["done"]
    log = run.folder / "logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"one\r\ntwo\n\xff three")

    response = client.get(f"/api/runs/{run.id}/log/stream")
    events = _events(response.text)

    assert "text/event-stream" in response.headers["content-type"]
    assert ["status", "log", "log", "end"] == [e[0] for e in events]
    lines = [line for e in events if e[0] == "log" for line in e[1]["lines"]]
    assert ["one", "two", "\ufffd three"] == lines
    assert "Completed" == events[-1][1]["status"]


def test_the_log_stream_resumes_from_the_last_event_id(client, runs):
    """A reconnecting browser sends Last-Event-ID (a byte offset) and gets only what follows."""
    run = runs["done"]
    log = run.folder / "logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("one\ntwo\n")

    response = client.get(f"/api/runs/{run.id}/log/stream", headers={"Last-Event-ID": "4"})

    assert [["two"]] == [e[1]["lines"] for e in _events(response.text) if e[0] == "log"]


def test_the_log_stream_of_a_live_run_pushes_new_lines_and_the_new_status(client, runs):
    """Lines appended while the stream is open arrive, then the final status and the end."""
    run = runs["live"]
    log = run.folder / "logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("before\n")

    def later() -> None:
        time.sleep(0.6)
        with open(log, "a") as f:
            f.write("after\n")
        time.sleep(0.4)
        run.complete()

    writer = threading.Thread(target=later)
    writer.start()
    with client.stream("GET", f"/api/runs/{run.id}/log/stream") as response:
        text = "".join(response.iter_text())
    writer.join()
    events = _events(text)

    assert ["before", "after"] == [line for e in events if e[0] == "log" for line in e[1]["lines"]]
    assert ["Running", "Completed"] == [e[1]["status"] for e in events if e[0] == "status"]
    assert "end" == events[-1][0]


def test_a_long_log_starts_with_its_last_megabyte_and_a_notice(client, runs, monkeypatch):
    """Only the tail of a huge log is sent, after a notice, starting on a whole line."""
    from runner.studio import files as _files

    monkeypatch.setattr(_files, "LOG_HEAD_LIMIT", 20)
    run = runs["done"]
    log = run.folder / "logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(10)))

    events = _events(client.get(f"/api/runs/{run.id}/log/stream").text)

    assert "notice" == events[0][0]
    assert ["line 8", "line 9"] == [  # the last 20 bytes begin inside "line 7"
        line for e in events if e[0] == "log" for line in e[1]["lines"]]


def test_the_log_tail_gives_the_last_lines(client, runs):
    """/log?lines=2 gives the last two lines of the log."""
    run = runs["done"]
    log = run.folder / "logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("a\nb\nc\n")

    assert ["b", "c"] == client.get(f"/api/runs/{run.id}/log?lines=2").json()["lines"]


def test_read_log_returns_only_complete_lines_until_final():
    """An unterminated line waits for its end, unless the log is final."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.txt"
        path.write_bytes(b"a\nb")

        assert (["a"], 2) == _api.read_log(path, 0)
        assert ([], 2) == _api.read_log(path, 2)
        assert (["b"], 3) == _api.read_log(path, 2, final=True)
        assert ([], 0) == _api.read_log(Path(folder) / "missing.txt", 0)


# ---------------------------------------------------------------------- cancel


def _same_origin() -> dict[str, str]:
    return {"X-CSRF-Token": "test-csrf", "Origin": BASE, "Sec-Fetch-Site": "same-origin"}


def test_cancel_from_the_studio_page_cancels_the_run(client, runs):
    """A same-origin POST with the page's CSRF token cancels a live interactive run."""
    response = client.post(f"/api/runs/{runs['live'].id}/cancel", headers=_same_origin())

    assert (200, "Canceled") == (response.status_code, response.json()["status"])
    assert "Canceled" == Run.get(runs["live"].experiment.workspace, runs["live"].id).status


@pytest.mark.parametrize("change", [
    {"X-CSRF-Token": "wrong"},
    {"X-CSRF-Token": ""},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": None, "Sec-Fetch-Site": None},
])
def test_cancel_without_the_csrf_token_or_from_elsewhere_is_403(client, runs, change):
    """A missing or wrong CSRF token, a foreign Origin, a cross-site fetch, or a request
    naming no origin at all is refused, and the run goes on."""
    headers = {k: v for k, v in {**_same_origin(), **change}.items() if v is not None}

    response = client.post(f"/api/runs/{runs['live'].id}/cancel", headers=headers)

    assert (403, "forbidden") == (response.status_code, response.json()["error"])
    assert "Running" == runs["live"].get_status()


def test_cancel_is_post_only(client, runs):
    """GET on the cancel endpoint is 405 and changes nothing."""
    assert 405 == client.get(f"/api/runs/{runs['live'].id}/cancel").status_code
    assert "Running" == runs["live"].get_status()


# --------------------------------------------------------------- compare, docs


def test_compare_puts_runs_side_by_side(client, runs):
    """/api/compare gives each run's final scalars and tags, and the metrics to overlay."""
    ids = f"{runs['done'].id},{runs['failed'].id}"
    body = client.get(f"/api/compare?runs={ids}").json()

    assert [0.9, 0.7] == [r["metrics"]["acc"] for r in body["runs"]]
    assert ["best", "lr"] == body["tag_names"]
    assert {"curve": "xy", "loss": "line"} == {c["name"]: c["chart"] for c in body["charts"]}
    assert 400 == client.get("/api/compare").status_code


def test_the_openapi_document_describes_every_api_route_and_nothing_else(client):
    """Every /api/ route is in openapi.json with its methods, and every path there is a route."""
    doc = client.get("/api/openapi.json").json()
    routes = {}
    for route in _api.ROUTES:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
        routes[path] = {m.lower() for m in route.methods or ()} - {"head"}

    assert "3.1.0" == doc["openapi"]
    assert set(routes) == set(doc["paths"])
    for path, methods in routes.items():
        assert methods == set(doc["paths"][path]), path


def test_the_page_works_offline_with_the_vendored_chart_library():
    """Templates and scripts load nothing from the internet; uPlot and its licence ship."""
    from runner.studio import app as _app

    vendor = _app.STATIC / "vendor"
    assert {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"} <= {
        p.name for p in vendor.iterdir()}
    assert "MIT" in (vendor / "uPlot.LICENSE").read_text()
    for path in [*_app.TEMPLATES.iterdir(), *_app.STATIC.glob("*.*")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert "cdn" not in text.lower(), path
