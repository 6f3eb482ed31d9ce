"""The notebook view of a run: ``RunDetails(run).show()`` and ``Run._repr_html_``.

Outside a notebook ``show()`` prints text; in one it shows HTML, live with
ipywidgets. Notebooks are stood in for by small fake ``IPython``/``ipywidgets``
modules (the one seam), so no Jupyter is needed."""

from __future__ import annotations

import subprocess
import sys
import time
import types

import pytest

from runner import Experiment, Run
from runner.widgets import RunDetails


@pytest.fixture
def run(exp: Experiment):
    """A completed run with a repeated scalar, a table, a single value and a log."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log_list("loss", [1.0, 0.5, 0.25, 0.125])
    for i in range(4):
        run.log_row("curve", x=i, y=i * i)
    run.log("acc", 0.93)
    (run.folder / "logs").mkdir(exist_ok=True)
    (run.folder / "logs" / "std_log.txt").write_text("epoch 1\n<b>epoch 2</b>\n")
    run.complete()
    return run


class _Shell:
    kernel = object()


def _fake_notebook(monkeypatch, with_widgets: bool) -> list:
    """Install fake IPython (a kernel shell) and, if asked, ipywidgets; return what
    display() was given."""
    shown: list = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: _Shell()
    display = types.ModuleType("IPython.display")
    display.display = shown.append
    display.HTML = lambda html: ("HTML", html)
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    if with_widgets:
        widgets = types.ModuleType("ipywidgets")

        class HTML:
            def __init__(self, value: str) -> None:
                self.value = value
                self.values = [value]

            def __setattr__(self, name, value):
                object.__setattr__(self, name, value)
                if name == "value" and hasattr(self, "values"):
                    self.values.append(value)

        widgets.HTML = HTML
        monkeypatch.setitem(sys.modules, "ipywidgets", widgets)
    else:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    return shown


def test_show_outside_a_notebook_prints_a_text_summary(run: Run, capsys):
    """In a terminal show() prints the status, each metric and the log tail."""
    RunDetails(run).show()

    out = capsys.readouterr().out
    assert f"Run {run.id}" in out and "Completed" in out
    assert "loss: 0.125 (last of 4)" in out
    assert "acc: 0.93" in out
    assert "epoch 1" in out


def test_repr_html_shows_status_charts_and_the_escaped_log(run: Run):
    """_repr_html_ draws a repeated scalar and a table as SVG and escapes the log."""
    html = run._repr_html_()

    assert "Completed" in html
    assert html.count("<svg") >= 2 and "<polyline" in html
    assert "&lt;b&gt;epoch 2&lt;/b&gt;" in html and "<b>epoch 2</b>" not in html
    assert "0.93" in html


def test_show_in_a_notebook_without_ipywidgets_displays_html_once(run: Run, monkeypatch):
    """Without ipywidgets the run is displayed as static HTML."""
    shown = _fake_notebook(monkeypatch, with_widgets=False)

    RunDetails(run).show()

    assert 1 == len(shown)
    assert "HTML" == shown[0][0] and "<svg" in shown[0][1]


def test_show_in_a_notebook_refreshes_a_widget_until_the_run_ends(exp: Experiment,
                                                                   monkeypatch):
    """With ipywidgets the widget is redrawn while the run goes on, and stops after it ends."""
    shown = _fake_notebook(monkeypatch, with_widgets=True)
    live = exp.start_logging(snapshot_directory=None, outputs=False)
    details = RunDetails(live, refresh_seconds=0.05)

    details.show()
    live.log_list("loss", [3.0, 2.0, 1.0])
    time.sleep(0.3)
    live.complete()
    details._thread.join(timeout=5)
    widget = shown[0]

    assert widget is details.widget
    assert "Running" in widget.values[0]
    assert "Completed" in widget.values[-1]
    assert any("<polyline" in v for v in widget.values)
    assert not details._thread.is_alive()


def test_a_finished_run_starts_no_refresh_thread(run: Run, monkeypatch):
    """A run that has ended is shown once; nothing keeps polling it."""
    _fake_notebook(monkeypatch, with_widgets=True)
    details = RunDetails(run)

    details.show()

    assert details._thread is None


def test_importing_widgets_needs_no_web_framework():
    """runner.widgets and Run._repr_html_ import neither starlette nor uvicorn."""
    code = ("import sys, runner, runner.widgets, runner.studio.render; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout

    assert "[]" == out.strip()


def test_a_widget_that_breaks_stops_the_refresh_and_says_why(exp: Experiment, monkeypatch,
                                                             caplog):
    """A widget that can no longer be updated stops the thread, keeps the error and logs it."""
    _fake_notebook(monkeypatch, with_widgets=True)
    live = exp.start_logging(snapshot_directory=None, outputs=False)
    details = RunDetails(live, refresh_seconds=0.05)
    details.show()

    class Closed:
        def __setattr__(self, name, value):
            raise RuntimeError("the notebook's comm is closed")

    details.widget = Closed()
    with caplog.at_level("WARNING", logger="runner.widgets"):
        details._thread.join(timeout=5)
    live.complete()
    assert (False, "the notebook's comm is closed") == (details._thread.is_alive(),
                                                        str(details.error))
    assert "stopped refreshing" in caplog.text
