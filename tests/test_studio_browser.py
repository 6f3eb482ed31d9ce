"""The studio in a real headless Chromium: the runs page, a running run whose log grows
without a reload and whose charts are drawn, and the Cancel button.

Debian's ``chromium`` is driven by Playwright over the DevTools protocol. The
browser is started once per session *outside* this process's tree (a detached
process group that the session ends by its id): Chromium starts and keeps
renderer processes of its own at any time, which the suite's guard against
leaked child processes would otherwise count against whichever test was running.
The run page's screenshot is kept as ``tests/artifacts/run-page.png``.
"""

from __future__ import annotations

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
