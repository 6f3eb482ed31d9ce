"""The text table of a sweep's trials: one line per trial as it ends (``wait_for_completion``).

Pure formatting over :meth:`HyperDriveRun.trials` dicts; also used by ``runner sweep show``.
"""

from __future__ import annotations

from typing import Any, TextIO

from ..core.status import RunStatus

_WIDTHS = (44, 10, 14)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_row(trial: dict[str, Any]) -> str:
    """One trial: id, status, best primary metric, sampled values (and a stop reason)."""
    params = " ".join(f"{k}={_short(v)}" for k, v in trial["hyperparameters"].items())
    line = (f"{trial['run_id']:<{_WIDTHS[0]}} {trial['status']:<{_WIDTHS[1]}} "
            f"{_short(trial['best_primary_metric']):<{_WIDTHS[2]}} {params}")
    if trial.get("error") and trial["status"] != "Completed":
        line += f"  ({trial['error']})"
    return line


def format_table(metric: str, trials: list[dict[str, Any]]) -> str:
    """Every trial, in order, under a header."""
    return "\n".join([header(metric), *(format_row(t) for t in trials)])


def header(metric: str) -> str:
    """The table's header line."""
    return (f"{'TRIAL':<{_WIDTHS[0]}} {'STATUS':<{_WIDTHS[1]}} "
            f"{('BEST ' + metric)[:_WIDTHS[2]]:<{_WIDTHS[2]}} PARAMETERS")


class TrialTable:
    """Prints each trial once, when it ends."""

    def __init__(self, metric: str, out: TextIO) -> None:
        self.metric = metric
        self.out = out
        self.shown: set[str] = set()

    def header(self) -> None:
        """Print the header line."""
        self.out.write(header(self.metric) + "\n")
        self.out.flush()

    def update(self, trials: list[dict[str, Any]]) -> None:
        """Print the trials that ended since the last call."""
        for trial in trials:
            if trial["status"] in RunStatus.TERMINAL and trial["run_id"] not in self.shown:
                self.shown.add(trial["run_id"])
                self.out.write(format_row(trial) + "\n")
        self.out.flush()

