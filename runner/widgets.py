"""Notebook widget of a run: ``from runner.widgets import RunDetails``.

Why it exists: Azure ML users watched runs from notebooks with
``RunDetails(run).show()`` (``azureml.widgets``). This is that call for runner:
in Jupyter it shows the run's status, its metric charts (inline SVG) and the
tail of its log, and keeps refreshing until the run ends when ``ipywidgets``
is installed (without it, the HTML is shown once). Outside a notebook it
prints a text summary instead.

Nothing here needs a server or the internet, and nothing but the standard
library is imported until ``show()`` finds a notebook.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api.run import Run

__all__ = ["RunDetails"]


class RunDetails:
    """A live view of one run for notebooks.

    Args:
        run_instance: the run to show (a :class:`runner.Run`).
        refresh_seconds: how often the live view is redrawn while the run goes on.

    Example::

        from runner.widgets import RunDetails
        RunDetails(run).show()
    """

    def __init__(self, run_instance: Run, refresh_seconds: float = 2.0) -> None:
        self.run = run_instance
        self.refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.widget: Any = None
        #: Why the live view stopped refreshing early, if it did (else None).
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<RunDetails of {self.run.id}>"

    def to_html(self) -> str:
        """The run as self-contained HTML: status, charts and the log's tail (for a sweep:
        its trials, the primary metric by parameter and over time)."""
        if self.run.type == "hyperdrive":
            from .studio.render_sweep import sweep_html

            return sweep_html(self.run)
        from .studio import render as _render

        return _render.run_html(self.run)

    def to_text(self) -> str:
        """The run as a short text summary."""
        if self.run.type == "hyperdrive":
            from .studio.render_sweep import sweep_text

            return sweep_text(self.run)
        from .studio import render as _render

        return _render.run_text(self.run)

    def _repr_html_(self) -> str:
        return self.to_html()

    def show(self) -> None:
        """Show the run: a live widget in Jupyter (static HTML without ipywidgets),
        a text summary anywhere else."""
        shell = _notebook_shell()
        if shell is None:
            print(self.to_text())
            return
        from IPython.display import HTML, display

        try:
            import ipywidgets
        except ImportError:
            display(HTML(self.to_html()))
            return
        self.widget = ipywidgets.HTML(value=self.to_html())
        display(self.widget)
        if self._live():
            self._thread = threading.Thread(target=self._refresh, daemon=True,
                                            name=f"runner-widget-{self.run.id}")
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing the live view (it also stops by itself when the run ends)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _live(self) -> bool:
        from .core.status import RunStatus

        return self.run.get_status() not in RunStatus.TERMINAL

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            live = self._live()
            try:
                self.widget.value = self.to_html()
            except Exception as exc:  # noqa: BLE001 - a closed notebook: stop, and say so
                # Not raised: a traceback from a background thread would land in some
                # other cell's output. Kept on ``self.error`` and logged instead.
                self.error = exc
                import logging

                logging.getLogger(__name__).warning(
                    "RunDetails of run %s stopped refreshing: %s: %s (call show() again "
                    "to restart it)", self.run.id, type(exc).__name__, exc)
                return
            if not live:
                return


def _notebook_shell() -> Any:
    """The IPython kernel shell when running inside a notebook, else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell
