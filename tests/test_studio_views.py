"""The studio's data for real work, through Starlette's test client and the public API: the
logged step as x, zoomed ranges at full resolution, time axes, gzip, CSV, tables with text
columns, the shared filter language (studio, ``runner runs --filter``, ``get_runs``),
parameter columns and sorting, parents' aggregates, sweeps, compare's differing
parameters, symlinked outputs, several studios on one workspace, and partial log lines."""

from __future__ import annotations

import json
import os
from array import array
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the studio extra (starlette) is not installed")

from click.testing import CliRunner
from starlette.testclient import TestClient

from runner import Experiment, Run, Workspace
from runner.cli.main import cli
from runner.core.filter import FilterError
from runner.studio import discovery as _discovery
from runner.studio import downsample as _downsample
from runner.studio.api import read_partial
from runner.studio.app import create_app

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    """A test client of the studio of ``ws``."""
    with TestClient(create_app(ws, csrf="test-csrf"), base_url=BASE) as c:
        yield c


def _run(exp: Experiment, **kwargs) -> Run:
    return exp.start_logging(snapshot_directory=None, outputs=False, **kwargs)


@pytest.fixture
def sweep(ws: Workspace):
    """A parent run with four children whose parameters and final loss differ."""
    exp = Experiment(ws, "sweep")
    parent = _run(exp, display_name="parent")
    children = []
    for i, (alpha, opt) in enumerate([(0.1, "adam"), (0.5, "sgd"), (0.75, "adam"), (2, "sgd")]):
        child = parent.child_run(name=f"trial {i}")
        ws.store.set_params(child.id, {"alpha": alpha, "opt": opt}, "sweep")
        child.log("mse", 4000 - 1000 * i)
        child.complete()
        children.append(child)
    parent.complete()
    return parent, children


# ------------------------------------------------------------------------- series


def test_the_series_x_is_the_logged_step(ws: Workspace, client: TestClient):
    """A metric logged with step=0, 100, ..., 900 is drawn at those steps, not at 0..9."""
    run = _run(Experiment(ws, "e"))
    for s in range(0, 1000, 100):
        run.log("m", s / 10, step=s)
    run.complete()
    body = client.get(f"/api/runs/{run.id}/series", params={"name": "m"}).json()
    assert list(range(0, 1000, 100)) == body["x"]
    assert [s / 10 for s in range(0, 1000, 100)] == body["y"]
    assert "step" == body["x_name"]
    assert body["stepped"] is True


def test_a_zoomed_range_comes_back_at_full_resolution(ws: Workspace, client: TestClient):
    """Downsampled as a whole, a 100k-point metric gives every point of a zoomed range."""
    run = _run(Experiment(ws, "e"))
    values = array("d", (float((k * 7919) % 1000) for k in range(100_000)))
    ws.store.write_metrics(run.id, [("big", "scalar", [], None, values)])
    run.complete()
    whole = client.get(f"/api/runs/{run.id}/series", params={"name": "big", "points": 2000}).json()
    part = client.get(f"/api/runs/{run.id}/series",
                      params={"name": "big", "points": 2000, "x_min": 70000, "x_max": 70999}).json()
    assert (True, 100_000) == (whole["downsampled"], whole["count"])
    assert list(range(70000, 71000)) == part["x"]
    assert list(values[70000:71000]) == part["y"]
    assert False is part["downsampled"]


def test_a_downsampled_series_keeps_every_bucket_extreme(ws: Workspace, client: TestClient):
    """Read chunk by chunk, a series thins exactly as the whole-list method does (spikes kept)."""
    run = _run(Experiment(ws, "e"))
    values = array("d", (float(k % 101) for k in range(150_000)))
    values[123_457] = 1e9
    ws.store.write_metrics(run.id, [("big", "scalar", [], None, values)])
    run.complete()
    body = client.get(f"/api/runs/{run.id}/series", params={"name": "big", "points": 3000}).json()
    expected = _downsample.series(list(values), 3000)
    assert expected["x"] == body["x"]
    assert expected["y"] == body["y"]
    assert 1e9 in body["y"]


def test_time_axes_give_write_times_and_seconds_since_the_start(ws: Workspace,
                                                               client: TestClient):
    """axis=time gives epoch seconds of the writes; axis=relative counts from the run's start."""
    run = _run(Experiment(ws, "e"))
    run.log_list("m", [1, 2, 3])
    run.complete()
    start = ws.store.get_run(run.id)["start_time"]
    wall = client.get(f"/api/runs/{run.id}/series", params={"name": "m", "axis": "time"}).json()
    rel = client.get(f"/api/runs/{run.id}/series",
                     params={"name": "m", "axis": "relative"}).json()
    assert 3 == len(wall["x"])
    assert all(x >= start for x in wall["x"])
    assert [round(x - start, 6) for x in wall["x"]] == [round(x, 6) for x in rel["x"]]
    assert "seconds since start" == rel["x_name"]


def test_a_bad_axis_or_bound_is_refused(ws: Workspace, client: TestClient):
    """An unknown axis and a bound that is not a number are 400s naming the parameter."""
    run = _run(Experiment(ws, "e"))
    run.log_list("m", [1, 2])
    run.complete()
    axis = client.get(f"/api/runs/{run.id}/series", params={"name": "m", "axis": "epoch"})
    bound = client.get(f"/api/runs/{run.id}/series", params={"name": "m", "x_min": "soon"})
    assert (400, 400) == (axis.status_code, bound.status_code)
    assert "axis must be one of step, time, relative" in axis.json()["message"]
    assert "x_min must be a number" in bound.json()["message"]


def test_series_are_gzipped_and_download_as_csv(ws: Workspace, client: TestClient):
    """A big series answer is gzip-encoded; the CSV has every value with its step."""
    run = _run(Experiment(ws, "e"))
    run.log_list("m", [0.5 * k for k in range(3000)])
    run.log("s", 1.5, step=10)
    run.log("s", 2.5, step=20)
    run.complete()
    big = client.get(f"/api/runs/{run.id}/series", params={"name": "m", "points": 20000},
                     headers={"accept-encoding": "gzip"})
    csv = client.get(f"/api/runs/{run.id}/series.csv", params={"name": "s"})
    assert "gzip" == big.headers.get("content-encoding")
    assert 3000 == len(big.json()["x"])
    assert "step,value,time" == csv.text.splitlines()[0]
    assert ["10,1.5", "20,2.5"] == [",".join(line.split(",")[:2])
                                    for line in csv.text.splitlines()[1:]]
    assert 'filename="s.csv"' in csv.headers["content-disposition"]


def test_a_table_with_a_text_column_is_a_table_and_a_numeric_one_a_chart(ws: Workspace,
                                                                       client: TestClient):
    """A per-class report (text column) shows as a table at any size; numbers make a chart."""
    run = _run(Experiment(ws, "e"))
    run.log_row("report", label="cat", precision=0.9)
    run.log_row("report", label="dog", precision=0.7)
    run.log_row("curve", x=0.1, y=0.2)
    run.log_row("curve", x=0.2, y=0.3)
    run.complete()
    charts = {m["name"]: m for m in client.get(f"/api/runs/{run.id}/metrics").json()}
    assert "table" == charts["report"]["chart"]
    assert {"label": ["cat", "dog"], "precision": [0.9, 0.7]} == charts["report"]["rows"]
    assert "xy" == charts["curve"]["chart"]


# ------------------------------------------------------------------------- filters


def test_the_runs_api_filters_with_the_shared_language(sweep, client: TestClient):
    """?filter= keeps the runs the expression holds for; params compare as numbers."""
    _parent, children = sweep
    body = client.get("/api/runs", params={
        "filter": 'metrics.mse < 3000 and params.alpha >= 0.5 and status = "Completed"',
        "children": "1"}).json()
    assert {children[2].id, children[3].id} == {r["id"] for r in body["runs"]}
    assert {"alpha", "opt"} == set(body["param_names"])


def test_a_bad_filter_is_a_400_with_its_column(sweep, client: TestClient):
    """A filter that does not parse is refused with the column and a caret."""
    response = client.get("/api/runs", params={"filter": "metrics.mse < "})
    assert 400 == response.status_code
    message = response.json()["message"]
    assert "column 15" in message
    assert message.rstrip().endswith("^")


def test_the_runs_page_shows_a_bad_filter_and_every_run(sweep, client: TestClient):
    """The runs page given a bad filter still lists runs, with the error for the filter box."""
    html = client.get("/runs", params={"filter": "params.alpha >>"}).text
    data = json.loads(html.split('id="page-data">')[1].split("</script>")[0])
    assert "filter:" in data["query"]["filter_error"]
    assert 1 == len(data["result"]["runs"])


def test_runs_sort_by_a_parameter_as_a_number(sweep, client: TestClient):
    """sort=param:alpha orders 2 after 0.75 (numbers), not before it (text)."""
    parent, children = sweep
    body = client.get("/api/runs", params={"parent": parent.id, "sort": "param:alpha",
                                           "order": "asc"}).json()
    assert [c.id for c in children] == [r["id"] for r in body["runs"]]
    assert "2" == body["runs"][-1]["params"]["alpha"]


def test_a_parent_shows_its_children_count_and_best_and_mean(sweep, client: TestClient):
    """The parent row carries its children's count and the best and mean of their mse."""
    parent, _ = sweep
    row = client.get("/api/runs", params={"experiment": "sweep"}).json()["runs"][0]
    assert parent.id == row["id"]
    assert 4 == row["children"]
    assert {"metric": "mse", "goal": "min", "best": 1000, "mean": 2500.0, "count": 4} == \
        row["aggregate"]


def test_get_runs_and_list_runs_take_the_same_filter(sweep, ws: Workspace):
    """Experiment.get_runs(filter=...) and list_runs(filter=...) keep the same runs."""
    from runner.api.experiment import list_runs

    _parent, children = sweep
    text = "params.opt = 'sgd' and metrics.mse <= 3000"
    got = [r.id for r in Experiment(ws, "sweep").get_runs(filter=text, include_children=True)]
    listed = [r["id"] for r in list_runs(ws, filter=text, include_children=True)]
    assert [children[3].id, children[1].id] == got
    assert got == listed


def test_get_runs_refuses_a_bad_filter_at_the_call(ws: Workspace):
    """A filter that does not parse raises FilterError before any run is read."""
    with pytest.raises(FilterError, match="column 8"):
        Experiment(ws, "e").get_runs(filter="status ? 'x'")


def test_the_cli_filters_runs_and_reports_a_bad_filter(sweep, ws: Workspace):
    """`runner runs --filter` lists matching runs; a bad filter fails with the caret."""
    _parent, children = sweep
    ok = CliRunner().invoke(cli, ["--workspace", str(ws.root), "runs", "--all", "--json",
                                  "--filter", "params.alpha > 0.6"])
    bad = CliRunner().invoke(cli, ["--workspace", str(ws.root), "runs",
                                   "--filter", "params.alpha >"])
    assert 0 == ok.exit_code, ok.output
    assert {children[2].id, children[3].id} == {r["id"] for r in json.loads(ok.stdout)}
    assert 0 != bad.exit_code
    assert "runner: error: filter:" in bad.stderr
    assert "^" in bad.stderr


# --------------------------------------------------------------- sweeps, compare


def test_the_sweep_api_gives_params_metrics_and_the_primary_metric(sweep, client: TestClient):
    """A parent's sweep view has each child's params and metrics in creation order."""
    parent, children = sweep
    body = client.get("/api/sweep", params={"parent": parent.id}).json()
    assert [c.id for c in children] == [r["id"] for r in body["runs"]]
    assert ["alpha", "opt"] == body["param_names"]
    assert ("mse", "min") == (body["primary"], body["goal"])
    assert {"alpha": "0.5", "opt": "sgd"} == body["runs"][1]["params"]


def test_a_sweep_view_needs_a_parent_or_runs(client: TestClient):
    """Neither a parent nor runs is a 400 saying what to give."""
    response = client.get("/api/sweep")
    assert 400 == response.status_code
    assert "?parent=ID" in response.json()["message"]


def test_compare_lists_the_differing_parameters_first(ws: Workspace, client: TestClient):
    """Parameters that differ between the runs come before those that are the same."""
    exp = Experiment(ws, "e")
    a, b = _run(exp), _run(exp)
    ws.store.set_params(a.id, {"aa": "1", "zz": "x"}, "arguments")
    ws.store.set_params(b.id, {"aa": "1", "zz": "y"}, "arguments")
    a.complete()
    b.complete()
    body = client.get("/api/compare", params={"runs": f"{a.id},{b.id}"}).json()
    assert ["zz", "aa"] == body["param_names"]
    assert ["zz"] == body["param_differs"]


# ------------------------------------------------------------ files and discovery


def test_a_symlink_out_of_the_run_is_listed_as_a_link(ws: Workspace, client: TestClient,
                                                      tmp_path: Path):
    """An output symlinked outside the run folder shows its target and is no download."""
    run = _run(Experiment(ws, "e"))
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("secret")
    (run.folder / "outputs").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, run.folder / "outputs" / "link.txt")
    run.complete()
    files = {f["name"]: f for f in client.get(f"/api/runs/{run.id}/files").json()}
    assert str(outside) == files["outputs/link.txt"]["link"]
    assert None is files["outputs/link.txt"]["size"]
    assert 404 == client.get(f"/api/runs/{run.id}/files/outputs/link.txt").status_code


def test_stopping_one_of_two_studios_keeps_the_other_in_studio_json(ws: Workspace):
    """When the studio studio.json names stops, it then names the other one still serving."""
    _discovery.write(ws.paths, "http://127.0.0.1:9001", host="127.0.0.1", port=9001,
                     token_required=False)
    _discovery.write(ws.paths, "http://127.0.0.1:9002", host="127.0.0.1", port=9002,
                     token_required=False)
    _discovery.remove(ws.paths, "http://127.0.0.1:9002")
    kept = _discovery.serving(ws.paths)
    _discovery.remove(ws.paths, "http://127.0.0.1:9001")
    assert "http://127.0.0.1:9001" == kept["url"]
    assert None is _discovery.serving(ws.paths)
    assert not _discovery.studio_file(ws.paths).exists()


# ----------------------------------------------------------------------- the log


def test_a_partial_line_is_sent_from_its_last_carriage_return(tmp_path: Path):
    """A progress bar without its newline yet gives its latest state; a whole line none."""
    log = tmp_path / "log.txt"
    log.write_bytes(b"done\n 10%|#   |\r 20%|##  |\r 30%|### |")
    offset = len(b"done\n")
    assert " 30%|### |" == read_partial(log, offset)
    log.write_bytes(b"done\n 10%|#   |\r100%|####|\n")
    assert "" == read_partial(log, offset)


def test_the_filter_check_says_whether_an_expression_parses(client: TestClient):
    """/api/filter gives the canonical text of a good filter and the column of a bad one."""
    good = client.get("/api/filter", params={"filter": "params.a>=0.5 AND status='Completed'"})
    bad = client.get("/api/filter", params={"filter": "params.a >= "})
    assert (200, 200) == (good.status_code, bad.status_code)
    assert {"ok": True, "filter": 'params.a >= 0.5 and status = "Completed"', "message": None,
            "column": None} == good.json()
    assert (False, 13) == (bad.json()["ok"], bad.json()["column"])


# -------------------------------------------------- what the other parts record


def test_a_hyperdrive_parent_ranks_by_its_primary_metric_and_goal(ws: Workspace,
                                                                 client: TestClient):
    """A parent's definition naming primaryMetricName and its goal decides the aggregate."""
    import time

    now = time.time()
    ws.store.insert_run("hd", "hd", type="hyperdrive", status="Completed", created=now,
                        start_time=now, end_time=now + 1, exit_code=0, definition={
                            "hyperdrive": {"primaryMetricName": "score",
                                           "primaryMetricGoal": "MINIMIZE"}})
    for i, score in enumerate((3.0, 1.0, 2.0)):
        ws.store.insert_run(f"hd_{i}", "hd", type="child", parent_id="hd", status="Completed",
                            created=now + i, start_time=now + i, end_time=now + i + 1)
        ws.store.write_metrics(f"hd_{i}", [("score", "scalar", [score], None, None),
                                           ("accuracy", "scalar", [0.5], None, None)])
    row = client.get("/api/runs", params={"experiment": "hd"}).json()["runs"][0]
    sweep = client.get("/api/sweep", params={"parent": "hd"}).json()
    assert {"metric": "score", "goal": "min", "best": 1.0, "mean": 2.0, "count": 3} == \
        row["aggregate"]
    assert ("score", "min") == (sweep["primary"], sweep["goal"])


def test_models_and_a_runs_models_and_datasets_are_listed(ws: Workspace, client: TestClient,
                                                          tmp_path: Path):
    """/api/models lists each model's versions newest first; a run shows the models it
    registered and the datasets it read."""
    from runner.registry import assets as _assets

    run = _run(Experiment(ws, "e"))
    weights = tmp_path / "model.pkl"
    weights.write_bytes(b"weights")
    run.upload_file("outputs/model.pkl", str(weights))
    run.register_model("net", "outputs/model.pkl")
    run.register_model("net", "outputs/model.pkl")
    _assets.record_run_datasets(ws.store, run.id, [{
        "direction": "input", "name": "train", "dataset": "cifar", "version": 2,
        "mode": "download", "path": "/data/cifar"}])
    run.complete()
    catalog = client.get("/api/models").json()
    summary = client.get(f"/api/runs/{run.id}").json()
    page = client.get("/models")
    assert ["net"] == [m["name"] for m in catalog]
    assert [2, 1] == [v["version"] for v in catalog[0]["versions"]]
    assert [("net", 1), ("net", 2)] == sorted((m["name"], m["version"])
                                              for m in summary["models"])
    assert [{"direction": "input", "name": "train", "dataset": "cifar", "version": 2,
             "mode": "download", "path": "/data/cifar"}] == summary["datasets"]
    assert 200 == page.status_code and 'data-page="models"' in page.text


def test_the_runs_list_gives_the_gpus_a_run_held(ws: Workspace, client: TestClient):
    """A run given GPUs lists their ids; one without has none."""
    import time

    now = time.time()
    ws.store.insert_run("g1", "gpu", type="script", status="Completed", created=now,
                        start_time=now, end_time=now + 1, exit_code=0, gpus=["0", "1"])
    ws.store.insert_run("g0", "gpu", type="script", status="Completed", created=now - 1,
                        start_time=now - 1, end_time=now, exit_code=0)
    runs = {r["id"]: r for r in client.get("/api/runs", params={"experiment": "gpu"}).json()
            ["runs"]}
    assert ["0", "1"] == runs["g1"]["gpus"]
    assert None is runs["g0"]["gpus"]
