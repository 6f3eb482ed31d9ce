"""``HyperDriveRun``: the parent run of a sweep, with v1's methods over its trials.

The trials are the parent's child runs; each trial's sampled values are its
``hyperparameters`` property (JSON) and its parameters (source ``sweep``). The primary
metric and goal are read from the parent's record, so any process can open a sweep with
``Run.get(ws, id)`` and get this class back.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ..api.run import Run
from ..core.errors import RunFailed
from ..core.status import CANCELED, FAILED, RunStatus
from ..store import liveness as _liveness
from .config import SweepSettings
from .owner import trial_parameters
from .policy import PrimaryMetricGoal

#: Seconds between looks at the trials while waiting.
POLL = 0.5


class HyperDriveRun(Run):
    """A sweep's parent run (type ``hyperdrive``); its children are the trials."""

    @property
    def settings(self) -> SweepSettings:
        """The sweep as recorded (sampler, policy, primary metric, limits)."""
        return SweepSettings((self._row["definition"] or {}).get("hyperdrive"))

    def __repr__(self) -> str:
        return (f"<HyperDriveRun {self._id} experiment={self._experiment.name} "
                f"status={self.get_status()}>")

    # --------------------------------------------------------------- trials

    def get_primary_metric_config(self) -> dict[str, str]:
        """``{"name": metric, "goal": "MAXIMIZE" | "MINIMIZE"}``."""
        settings = self.settings
        return {"name": settings.metric, "goal": settings.goal.value}

    def _trial_rows(self) -> list[dict[str, Any]]:
        rows = _liveness.reconcile_all(self._store, self._store.children(self._id))
        return sorted(rows, key=lambda r: (r["created"], r["id"]))

    def trials(self) -> list[dict[str, Any]]:
        """Every trial, oldest first: ``run_id``, ``status``, ``hyperparameters``,
        ``values`` (the primary metric as logged), ``best_primary_metric``,
        ``final_primary_metric``, ``error`` (a stopped trial's reason), times."""
        settings = self.settings
        rows = self._trial_rows()
        base = ((self._row["definition"] or {}).get("trial") or {}).get("arguments") or []
        out = []
        for row in rows:
            raw = self._store.read_metrics(row["id"], settings.metric).get(settings.metric)
            values = [v for v in (raw[1] if raw else [])
                      if isinstance(v, (int, float)) and not isinstance(v, bool)]
            message = ((row.get("error") or {}).get("error") or {}).get("message")
            out.append({
                "run_id": row["id"],
                "status": row["status"],
                "hyperparameters": trial_parameters(
                    self._store.properties(row["id"]),
                    (row["definition"] or {}).get("arguments") or [], base),
                "values": values,
                "best_primary_metric": settings.goal.best(values) if values else None,
                "final_primary_metric": values[-1] if values else None,
                "error": message,
                "start_time": row["start_time"],
                "end_time": row["end_time"],
            })
        return out

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False
                                              ) -> list[dict[str, Any]]:
        """Trials, best first by their best primary-metric value (v1's shape).

        Args:
            top: return only this many (0: all).
            reverse: worst first.
            discard_no_metric: leave out trials that logged no value.

        Returns:
            ``[{"run_id", "hyperparameters", "best_primary_metric", "status"}, ...]``;
            trials without a value come last.
        """
        goal = self.settings.goal
        items = [t for t in self.trials()
                 if not (discard_no_metric and t["best_primary_metric"] is None)]
        sign = -1 if goal is PrimaryMetricGoal.MAXIMIZE else 1

        def key(t: dict[str, Any]) -> tuple[int, float]:
            value = t["best_primary_metric"]
            return (1, 0.0) if value is None else (0, sign * value)

        items.sort(key=key)
        if reverse:
            items.reverse()
        if top:
            items = items[:top]
        return [{"run_id": t["run_id"], "hyperparameters": json.dumps(t["hyperparameters"]),
                 "best_primary_metric": t["best_primary_metric"], "status": t["status"]}
                for t in items]

    def get_best_run_by_primary_metric(self, include_failed: bool = True,
                                       include_canceled: bool = True) -> Run | None:
        """The trial with the best primary-metric value, or None when none logged one."""
        for item in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            if (item["status"] == FAILED and not include_failed) or \
                    (item["status"] == CANCELED and not include_canceled):
                continue
            return Run.get(self._experiment.workspace, item["run_id"])
        return None

    def get_hyperparameters(self) -> dict[str, str]:
        """``{trial_id: JSON of its sampled values}``."""
        return {t["run_id"]: json.dumps(t["hyperparameters"]) for t in self.trials()}

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    **kwargs: Any) -> dict[str, Any]:
        """The trials' metrics, ``{trial_id: {name: value}}`` (as v1's HyperDriveRun)."""
        out = {}
        for row in self._trial_rows():
            metrics = Run(self._experiment, row["id"], _row=row).get_metrics(name)
            out[row["id"]] = metrics
        return out

    # ------------------------------------------------------------ lifecycle

    def cancel(self) -> None:
        """Cancel the sweep: its owner cancels every trial, then ends the parent Canceled.

        When the owner is gone (the parent is Failed), the unfinished trials are canceled
        here directly.
        """
        super().cancel()
        if self.get_status() in RunStatus.TERMINAL and self.get_status() != CANCELED:
            for row in self._trial_rows():
                if row["status"] not in RunStatus.TERMINAL:
                    Run(self._experiment, row["id"], _row=row).cancel()

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True, out: TextIO | None = None
                            ) -> dict[str, Any]:
        """Wait for the sweep to end; with ``show_output`` print each trial as it ends.

        Raises:
            RunFailed: the sweep ended Failed and ``raise_on_error`` is True.
        """
        from .table import TrialTable

        out = out or sys.stdout
        table = TrialTable(self.settings.metric, out) if show_output else None
        if table:
            out.write(f"RunId: {self._id}\nWeb View: {self.get_portal_url()}\n\n")
            table.header()
        from ..execution.logs import Watcher

        watcher = Watcher([self.folder / ".sys"])
        try:
            while True:
                status = self.get_status()
                if table:
                    table.update(self.trials())
                if status in RunStatus.TERMINAL:
                    break
                watcher.wait(POLL)
        finally:
            watcher.stop()
        details = self.get_details()
        if table:
            table.update(self.trials())
            best = self.get_best_run_by_primary_metric()
            out.write(f"\nStatus: {details['status']}\n")
            if best is not None:
                out.write(f"Best run: {best.id}\n")
            out.flush()
        if details["status"] == FAILED and raise_on_error:
            message = ((details.get("error") or {}).get("error") or {}).get("message")
            raise RunFailed(f"Sweep {self._id} failed: {message}", run_id=self._id,
                            error=details.get("error"), details=details)
        return details

    def _repr_html_(self) -> str:
        from ..api import hooks

        return hooks.call("repr_html", self)
