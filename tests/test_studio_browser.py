"""The studio in a real headless Chromium: the runs page, a running run whose log grows
without a reload and whose charts are drawn, and the Cancel button; then the step axis,
log scale, smoothing and zoom of a metric panel, parameter columns and the filter
language, a sweep's parallel coordinates, a live progress bar collapsing and ANSI
colours, wide lines and tables at 1280 and 420 px, and v1's metric kinds.

Debian's ``chromium`` is driven by Playwright over the DevTools protocol. The
browser is started once per session *outside* this process's tree (a detached
process group that the session ends by its id): Chromium starts and keeps
renderer processes of its own at any time, which the suite's guard against
leaked child processes would otherwise count against whichever test was running.
Screenshots are kept under ``tests/artifacts/`` (run page, sweep page, runs at both
widths).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner import Experiment, Run, ScriptRunConfig, Workspace

pytest.importorskip("starlette", reason="the studio extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the studio extra (uvicorn) is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
StudioServer = pytest.importorskip("runner.studio.server").StudioServer

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0"]
#: Starts its arguments in a new session and prints the pid: the browser is then
#: reparented away from this process tree when the launcher exits.
_LAUNCHER = ("import subprocess, sys; p = subprocess.Popen(sys.argv[1:], "
             "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, "
             "start_new_session=True); print(p.pid)")
WAIT_MS = 20_000

if not os.path.exists(CHROMIUM):
    pytest.skip(f"chromium is not installed at {CHROMIUM} (run .ci/browser.sh)",
                allow_module_level=True)


def _launch_chromium(profile: Path) -> tuple[int, int]:
    """Start Chromium detached; return its pid and DevTools port."""
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, CHROMIUM, *FLAGS,
                          f"--user-data-dir={profile}", "about:blank"],
                         capture_output=True, text=True, check=True, timeout=30)
    pid = int(out.stdout)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().splitlines()
            if lines and lines[0].isdigit():
                return pid, int(lines[0])
        time.sleep(0.05)
    _end_group(pid)
    raise RuntimeError(f"{CHROMIUM} did not open its DevTools port")


def _end_group(pid: int) -> None:
    """End the browser's process group (its pid is the group id): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium for the whole session, reached over CDP.

    Pages keep their Content-Security-Policy (no eval): scripts the tests run in
    them are given as functions ("() => ..."), which Playwright does not eval.
    """
    pid, port = _launch_chromium(tmp_path_factory.mktemp("chromium-profile"))
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        yield browser
        browser.close()
    finally:
        playwright.stop()
        _end_group(pid)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A workspace and its studio, served in a thread on a free loopback port."""
    ws = Workspace.create(tmp_path_factory.mktemp("studio") / "ws")
    with StudioServer(ws, port=0) as server:
        yield server


@pytest.fixture
def page(browser, studio):
    """A fresh browser page; fails the test on any script error in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert [] == errors, "the page reported script errors"


def _script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def _wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => { const n = document.querySelector(s); "
        "return n && n.textContent.includes(t); }", arg=[selector, text], timeout=WAIT_MS)


# ------------------------------------------------------------------------ tests


def test_the_runs_page_lists_sorts_and_filters_runs(page, studio):
    """The runs page shows every run with its last metric value; a header click sorts,
    the search box filters, and a run's link opens its page."""
    exp = Experiment(studio.workspace, "listing")
    ids = {}
    for name, acc in (("low", 0.1), ("high", 0.9), ("mid", 0.5)):
        run = exp.start_logging(snapshot_directory=None, outputs=False, display_name=name)
        run.log("acc", acc)
        run.complete()
        ids[name] = run.id

    page.goto(f"{studio.url}/experiments/listing")
    rows = page.locator("#runs tbody tr")
    rows.first.wait_for(timeout=WAIT_MS)

    assert 3 == rows.count()
    assert [ids["mid"], ids["high"], ids["low"]] == [
        rows.nth(i).get_attribute("data-run") for i in range(3)]
    page.locator("#runs th", has_text="acc").click()
    page.wait_for_function("() => document.querySelector('#runs th.sorted') !== null",
                           timeout=WAIT_MS)
    page.wait_for_function("(id) => document.querySelector('#runs tbody tr').dataset.run "
                           "=== id", arg=ids["high"], timeout=WAIT_MS)
    page.fill("input[name=q]", "low")
    page.click("#filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 1",
                           timeout=WAIT_MS)
    page.click(f"#runs a[href='/runs/{ids['low']}']")
    _wait_text(page, "#run-status", "Completed")


def test_a_running_run_streams_its_log_and_draws_its_charts(page, studio, tmp_path):
    """While a run goes on, its page draws a line chart for a repeated scalar and an x-y
    chart for a table, and a line printed later appears without reloading the page."""
    source = _script(tmp_path / "src", "train.py", """\
        import math, os, sys, time
        from runner import Run
        run = Run.get_context()
        run.log_list("loss", [1 / (i + 1) for i in range(30)])
        for i in range(40):
            run.log_row("curve", x=i / 10, y=math.sin(i / 10))
        run.flush()
        print("first line", flush=True)
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        print("second line", flush=True)
        """)
    trigger = tmp_path / "go"
    exp = Experiment(studio.workspace, "live")
    run = exp.submit(ScriptRunConfig(source_directory=str(source), script="train.py",
                                     arguments=[str(trigger)]))
    try:
        page.goto(f"{studio.url}/runs/{run.id}")
        _wait_text(page, "#log", "first line")
        page.wait_for_selector('.card[data-metric="loss"][data-chart="line"] '
                               '.plot[data-drawn="1"] canvas', timeout=WAIT_MS)
        page.wait_for_selector('.card[data-metric="curve"][data-chart="xy"] '
                               '.plot[data-drawn="1"] canvas', timeout=WAIT_MS)
        status = page.text_content("#run-status")
        page.evaluate("() => { window.__notReloaded = true; }")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "run-page.png"), full_page=True)

        trigger.write_text("go")
        _wait_text(page, "#log", "second line")
        not_reloaded = page.evaluate("() => window.__notReloaded === true")
        _wait_text(page, "#run-status", "Completed")
        points = page.get_attribute('.card[data-metric="curve"] .plot', "data-points")
    finally:
        trigger.write_text("go")
        run.wait_for_completion(raise_on_error=False)

    assert "Running" == status
    assert not_reloaded
    assert "40" == points
    assert ["first line", "second line"] == page.locator("#log div").all_text_contents()[-2:]


def test_the_cancel_button_cancels_a_live_run(page, studio, tmp_path):
    """Clicking Cancel on a running run's page ends it; the page shows Canceled."""
    source = _script(tmp_path / "src", "sleep.py", """\
        import time
        print("sleeping", flush=True)
        time.sleep(120)
        """)
    exp = Experiment(studio.workspace, "cancel")
    run = exp.submit(ScriptRunConfig(source_directory=str(source), script="sleep.py"))
    try:
        page.goto(f"{studio.url}/runs/{run.id}")
        _wait_text(page, "#log", "sleeping")
        _wait_text(page, "#run-status", "Running")
        page.click("#cancel")
        _wait_text(page, "#run-status", "Canceled")
        cancel_hidden = page.is_hidden("#cancel")
    finally:
        if Run.get(studio.workspace, run.id).get_status() not in ("Canceled", "Completed",
                                                                   "Failed"):
            run.cancel()
        run.wait_for_completion(raise_on_error=False)

    assert "Canceled" == run.get_status()
    assert cancel_hidden


def test_compare_overlays_the_curves_of_the_runs_picked(page, studio):
    """Picking two runs on the runs page and comparing them overlays their curves."""
    exp = Experiment(studio.workspace, "compare")
    for scale in (1.0, 2.0):
        run = exp.start_logging(snapshot_directory=None, outputs=False)
        run.log_list("loss", [scale / (i + 1) for i in range(20)])
        run.complete()

    page.goto(f"{studio.url}/experiments/compare")
    page.locator("#runs tbody input[type=checkbox]").nth(0).check()
    page.locator("#runs tbody input[type=checkbox]").nth(1).check()
    page.click("#compare")
    page.wait_for_selector('#compare-charts .card[data-metric="loss"] .plot[data-drawn="1"]',
                           timeout=WAIT_MS)

    assert 3 == page.evaluate(
        "() => document.querySelector('#compare-charts .plot')._uplot.series.length")


# ------------------------------------------------------- charts, lists, sweeps, logs


def _plot(card: str) -> str:
    return f'.card[data-metric="{card}"] .plot'


def test_a_metric_panel_draws_the_logged_step_log_scale_smoothing_and_zoom(page, studio):
    """A metric logged at steps 0, 100, ..., 900 is drawn at those steps with whole-number
    ticks; log y, smoothing (raw kept faint) and a zoom (fetched again) all redraw it; a run
    without output says so instead of an empty log."""
    run = Experiment(studio.workspace, "axes").start_logging(snapshot_directory=None,
                                                             outputs=False)
    for s in range(0, 1000, 100):
        run.log("loss", 10 ** (-s / 300), step=s)
    run.complete()
    page.goto(f"{studio.url}/runs/{run.id}")
    plot = _plot("loss")
    page.wait_for_selector(plot + '[data-drawn="1"] canvas', timeout=WAIT_MS)
    xs = page.evaluate(f"() => Array.from(document.querySelector('{plot}')._uplot.data[0])")
    integer = page.get_attribute(plot, "data-integer-x")

    page.check('.card[data-metric="loss"] .log-y')
    page.wait_for_selector(plot + '[data-log-y="1"]', timeout=WAIT_MS)
    distr = page.evaluate(f"() => document.querySelector('{plot}')._uplot.scales.y.distr")
    page.locator('.card[data-metric="loss"] .smooth').fill("0.8")
    page.wait_for_function(f"() => document.querySelector('{plot}')._uplot.series.length === 3",
                           timeout=WAIT_MS)
    labels = page.evaluate(
        f"() => document.querySelector('{plot}')._uplot.series.map((s) => s.label)")
    page.evaluate(f"() => document.querySelector('{plot}')._onZoom(200, 500)")
    page.wait_for_function(f"() => document.querySelector('{plot}').dataset.range === '200,500'"
                           f" && document.querySelector('{plot}')._uplot.data[0].length === 4",
                           timeout=WAIT_MS)
    zoomed = page.evaluate(f"() => Array.from(document.querySelector('{plot}')._uplot.data[0])")
    empty = page.text_content("#log-empty")

    assert list(range(0, 1000, 100)) == xs
    assert "1" == integer
    assert 3 == distr
    assert ["step", "loss (raw)", "loss"] == labels
    assert [200, 300, 400, 500] == zoomed
    assert page.is_hidden("#log")
    assert "no output" in empty


def test_the_runs_list_has_parameter_columns_and_the_filter_language(page, studio):
    """Parameters are columns; a filter expression narrows the list, a bad one shows its
    column with a caret; a hidden column stays hidden after a reload; children expand."""
    exp = Experiment(studio.workspace, "params")
    parent = exp.start_logging(snapshot_directory=None, outputs=False, display_name="sweep")
    for alpha, mse in ((0.25, 4000), (0.5, 2500), (1.0, 1000)):
        child = parent.child_run()
        studio.workspace.store.set_params(child.id, {"alpha": alpha}, "sweep")
        child.log("mse", mse)
        child.complete()
    parent.complete()
    page.goto(f"{studio.url}/experiments/params?children=1")
    page.wait_for_selector('#runs th[data-column="param:alpha"]', timeout=WAIT_MS)
    page.fill("input[name=filter]", "params.alpha >= 0.5 and metrics.mse < 3000")
    page.click("#filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 2",
                           timeout=WAIT_MS)
    alphas = sorted(page.locator("#runs tbody td.param").all_text_contents())
    page.fill("input[name=filter]", "params.alpha >= ")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#filter-error:not([hidden])", timeout=WAIT_MS)
    error = page.text_content("#filter-error")

    page.goto(f"{studio.url}/experiments/params")
    page.click(".columns summary")
    page.uncheck('#column-list input[data-column="duration"]')
    page.reload()
    page.locator("#runs tbody tr").first.wait_for(timeout=WAIT_MS)
    duration_shown = page.locator('#runs th[data-column="duration"]').count()
    page.click("#runs .expand")
    page.wait_for_function("() => document.querySelectorAll('#runs tbody tr.child').length === 3",
                           timeout=WAIT_MS)
    aggregate = page.text_content("#runs td.children")

    assert ["0.5", "1"] == alphas
    assert "column 16" in error and error.rstrip().endswith("^")
    assert 0 == duration_shown
    assert "3 runs" in aggregate and "mse best 1000" in aggregate


def test_a_sweep_parent_draws_parallel_coordinates_a_scatter_and_best_so_far(page, studio):
    """A parent's sweep page has one line per child across one axis per parameter and the
    metric, a point per child in the scatter, and a best-so-far curve."""
    exp = Experiment(studio.workspace, "sweepview")
    parent = exp.start_logging(snapshot_directory=None, outputs=False)
    for i in range(6):
        child = parent.child_run()
        studio.workspace.store.set_params(
            child.id, {"lr": 10 ** -(i % 4), "opt": "adam" if i % 2 else "sgd"}, "sweep")
        child.log("accuracy", 0.5 + i / 20)
        child.complete()
    parent.complete()
    page.goto(f"{studio.url}/sweep?parent={parent.id}")
    page.wait_for_selector("#parcoords svg", timeout=WAIT_MS)
    page.wait_for_selector('#best[data-drawn="1"]', timeout=WAIT_MS)
    lines = page.locator("#parcoords .pc-line").count()
    axes = page.get_attribute("#parcoords", "data-axes")
    dots = page.locator("#scatter .dot").count()
    goal = page.input_value("#sweep-goal")
    best = page.evaluate("() => Array.from(document.querySelector('#best')._uplot.data[2])")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sweep-page.png"), full_page=True)

    assert 6 == lines
    assert "3" == axes
    assert 6 == dots
    assert "max" == goal
    assert [0.5, 0.55, 0.6, 0.65, 0.7, 0.75] == [round(v, 2) for v in best]


def test_a_live_log_collapses_a_progress_bar_and_shows_ansi_colours(page, studio, tmp_path):
    """A \\r progress bar shows only its latest state while it runs and once when it ends;
    ANSI colours render as colour, never as raw escapes."""
    source = _script(tmp_path / "src", "bar.py", """\
        import os, sys, time
        print("\\x1b[31mred alert\\x1b[0m plain", flush=True)
        for k in range(6):
            sys.stdout.write(f"\\r{k * 10:3d}%|{'#' * k:<10}|")
            sys.stdout.flush()
            time.sleep(0.02)
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        sys.stdout.write("\\r100%|##########|\\n")
        print("after", flush=True)
        """)
    trigger = tmp_path / "go"
    run = Experiment(studio.workspace, "bars").submit(ScriptRunConfig(
        source_directory=str(source), script="bar.py", arguments=[str(trigger)]))
    try:
        page.goto(f"{studio.url}/runs/{run.id}")
        _wait_text(page, "#log .pending", " 50%")
        live = page.locator("#log .pending").all_text_contents()
        red = page.evaluate("() => { const s = [...document.querySelectorAll('#log span')]"
                            ".find((n) => n.textContent === 'red alert'); "
                            "return s ? getComputedStyle(s).color : null; }")
        trigger.write_text("go")
        _wait_text(page, "#log", "after")
        _wait_text(page, "#run-status", "Completed")
        bars = [t for t in page.locator("#log div").all_text_contents() if "%|" in t]
        text = page.text_content("#log")
    finally:
        trigger.write_text("go")
        run.wait_for_completion(raise_on_error=False)

    assert [" 50%|#####     |"] == live
    assert "rgb(229, 83, 75)" == red
    assert ["100%|##########|"] == bars
    assert "\x1b" not in text and "[31m" not in text


@pytest.mark.parametrize("width", [1280, 420])
def test_wide_lines_and_wide_tables_stay_inside_the_window(browser, studio, width):
    """A failed run's long unbroken error and a runs table with many metric columns do not
    widen the page; the table scrolls inside its box, whose scrollbar is in view."""
    exp = Experiment(studio.workspace, f"wide{width}")
    failed = exp.start_logging(snapshot_directory=None, outputs=False)
    failed.fail("x" * 5000)
    for i in range(3):
        run = exp.start_logging(snapshot_directory=None, outputs=False)
        for m in range(25):
            run.log(f"metric_number_{m:02d}", m * 1.5 + i)
        run.complete()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{studio.url}/runs/{failed.id}")
        page.wait_for_selector("#run-error:not([hidden])", timeout=WAIT_MS)
        run_width = page.evaluate("() => document.documentElement.scrollWidth")
        page.goto(f"{studio.url}/experiments/wide{width}")
        page.locator("#runs tbody tr").first.wait_for(timeout=WAIT_MS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"runs-{width}.png"))
        list_width = page.evaluate("() => document.documentElement.scrollWidth")
        box = page.evaluate("() => { const b = document.querySelector('.runs-scroll'); "
                            "const r = b.getBoundingClientRect(); return {scroll: b.scrollWidth,"
                            " client: b.clientWidth, bottom: r.bottom, right: r.right}; }")
    finally:
        context.close()

    assert run_width <= width
    assert list_width <= width
    assert box["scroll"] > box["client"]
    assert box["bottom"] <= 900 and box["right"] <= width


def test_v1_metric_kinds_show_as_a_heat_map_and_a_histogram(page, studio, tmp_path):
    """A confusion matrix kept as v1 does (an artifact named after the metric, the metric
    its aml:// address) is a heat map; residuals logged as their JSON are a histogram."""
    run = Experiment(studio.workspace, "v1kinds").start_logging(snapshot_directory=None,
                                                                outputs=False)
    matrix = {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
              "data": {"class_labels": ["cat", "dog"], "matrix": [[8, 2], [1, 9]]}}
    document = tmp_path / "cm.json"
    document.write_text(json.dumps(matrix))
    run.upload_file("cm", str(document))
    run.log("cm", f"aml://artifactId/ExperimentRun/dcid.{run.id}/cm")
    run.log("res", json.dumps({"schema_type": "residuals", "schema_version": "1.0.0",
                               "data": {"bin_edges": [-1, 0, 1, 2], "bin_counts": [3, 5, 2]}}))
    run.complete()
    page.goto(f"{studio.url}/runs/{run.id}")
    page.wait_for_selector('.card[data-metric="cm"] [data-v1="confusion_matrix"] table',
                           timeout=WAIT_MS)
    page.wait_for_selector('.card[data-metric="res"] [data-v1="residuals"] svg',
                           timeout=WAIT_MS)
    cells = page.locator('.card[data-metric="cm"] tbody td').all_text_contents()
    bars = page.locator('.card[data-metric="res"] rect.bar').count()

    assert ["8", "2", "1", "9"] == cells
    assert 3 == bars
