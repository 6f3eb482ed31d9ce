"""The owner of a sweep's parent run: samples trials, submits them, stops the weak ones.

One detached process per sweep (built on :class:`~runner.execution.owner.RunOwner`). In a
loop it reads the trials from the store (the record is the only state it trusts, so a
resumed owner behaves exactly like the first one), and:

1. on a cancel request, cancels every trial that has not ended and ends the parent
   Canceled once they all have;
2. once ``max_duration_minutes`` have passed, cancels the running trials and submits no
   more;
3. asks the policy which running trials to stop, given every trial's primary-metric
   values; a stopped trial gets the policy's reason as its error and a cancel request
   (its supervisor ends it Canceled and keeps its outputs);
4. submits new trials, sampled from the history, while fewer than
   ``max_concurrent_runs`` are unfinished and fewer than ``max_total_runs`` exist;
5. when every trial has ended and no more will come, ends the parent: Failed when every
   trial failed, else Completed.

Trials are ordinary submitted runs (children of the parent, ids ``<parent>_<n>``), so they
go through the workspace's queue and GPU slots, and they go on when this process dies;
a reader then marks the parent Failed (:mod:`runner.store.liveness`) and ``runner sweep
resume`` starts a new owner.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from typing import Any

from ..core.params import param_name
from ..core.status import (
    CANCEL_REQUESTED,
    CANCELED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    RunStatus,
    error_record,
)
from ..execution.owner import RunOwner
from ..store import liveness as _liveness
from .config import SweepSettings
from .sampling import Trial

#: Seconds between looks at the trials (a signal wakes the owner sooner).
POLL = 0.2
#: The property holding a trial's sampled values as JSON (v1's name).
PARAMETERS_PROPERTY = "hyperparameters"
#: The error code of a trial stopped by the policy.
STOPPED_CODE = "EarlyTermination"


def trial_arguments(parameters: dict[str, Any]) -> list[str]:
    """``{"--alpha": 0.5, "lr": 0.1}`` -> ``["--alpha", "0.5", "--lr", "0.1"]`` (as v1 did)."""
    out: list[str] = []
    for name, value in parameters.items():
        out += [name if name.startswith("-") else f"--{name}", str(value)]
    return out


def trial_parameters(properties: dict[str, Any], arguments: list[str],
                     base: list[str]) -> dict[str, Any]:
    """A trial's sampled values: its ``hyperparameters`` property, else (an owner died
    between submitting the trial and recording them) read back from its arguments after
    the sweep's own ``base`` arguments."""
    text = properties.get(PARAMETERS_PROPERTY)
    if text:
        try:
            return json.loads(text)
        except ValueError:
            pass
    tail = list(arguments[len(base):]) if list(arguments[:len(base)]) == list(base) else []
    return {name: _value(value) for name, value in zip(tail[::2], tail[1::2])}


def _value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5; other text as it is."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


class SweepOwner(RunOwner):
    """Runs one sweep to its end. See the module docstring."""

    def __init__(self, root: str, run_id: str, private: dict[str, Any] | None = None,
                 ws: Any = None) -> None:
        super().__init__(root, run_id, private, ws)
        self.settings = SweepSettings(self.definition.get("hyperdrive"))
        self.trial = self.definition.get("trial") or {}
        self.experiment = self.ws._experiment(self.row["experiment"])
        self.series: dict[str, list[float]] = {}  # ended trials' values, read once
        self.parameters: dict[str, dict[str, Any]] = {}
        self.asked: set[str] = set()  # trials this owner asked to cancel
        self.exhausted = False
        self.timed_out = False

    def _install_signals(self) -> None:
        super()._install_signals()
        # A trial's supervisor is this process's child: its exit wakes the loop at once,
        # so a free place is filled without waiting for the next poll.
        signal.signal(signal.SIGCHLD, lambda *_: None)

    # ------------------------------------------------------------------ loop

    def run(self) -> int:
        """Own the sweep to its end; returns the process exit code."""
        self._install_signals()
        started = self.row["start_time"] or time.time()
        self.store.update_run(self.run_id, status=RUNNING, start_time=started,
                              only_if_status=(QUEUED, RUNNING))
        self._touch(RUNNING)
        minutes = self.settings.max_duration_minutes
        self.deadline = started + minutes * 60 if minutes else None
        try:
            while not self._step():
                self._sleep(POLL)
        except BaseException as exc:  # noqa: BLE001 - the record must say what happened
            text = traceback.format_exc()
            self._log(text)
            self._finish(FAILED, error_record(
                f"The sweep's owner failed: {type(exc).__name__}: {exc}; its running trials "
                "go on. Resume it with `runner sweep resume "
                f"{self.run_id}`.", code="OwnerDied",
                details="\n".join(text.splitlines()[-12:])))
            return 70
        return 0

    def _step(self) -> bool:
        """One look at the trials; True once the sweep has ended."""
        trials = self._trials()
        active = [t for t in trials if t["status"] not in RunStatus.TERMINAL]
        if self._cancel_requested():
            for row in active:
                self._cancel_trial(row, None)
            if not active:
                self._finish(CANCELED, None)
                return True
            return False
        if self.deadline is not None and not self.timed_out and time.time() >= self.deadline:
            self.timed_out = True
            self._log("max_duration_minutes reached: canceling the running trials")
            for row in active:
                self._cancel_trial(row, error_record(
                    f"The sweep reached max_duration_minutes="
                    f"{self.settings.max_duration_minutes:g}.", code="SweepTimeout"))
        if not self.timed_out:
            self._apply_policy(trials)
            room = min(self.settings.max_concurrent_runs - len(active),
                       self.settings.max_total_runs - len(trials))
            if room > 0 and not self.exhausted:
                added = self._submit_trials(trials, room)
                if added:
                    return False
        if active:
            return False
        self._finish(*self._outcome(trials))
        return True

    # ---------------------------------------------------------------- trials

    def _trials(self) -> list[dict[str, Any]]:
        """The parent's children, oldest first, with dead owners reconciled."""
        rows = self.store.children(self.run_id)
        rows = _liveness.reconcile_all(self.store, rows)
        rows.sort(key=lambda r: (_index(r["id"]), r["created"]))
        return rows

    def _values(self, row: dict[str, Any]) -> list[float]:
        tid = row["id"]
        if tid in self.series:
            return self.series[tid]
        raw = self.store.read_metrics(tid, self.settings.metric).get(self.settings.metric)
        values = [v for v in (raw[1] if raw else []) if _is_number(v)]
        if row["status"] in RunStatus.TERMINAL:
            self.series[tid] = values
        return values

    def _params_of(self, row: dict[str, Any]) -> dict[str, Any]:
        tid = row["id"]
        if tid not in self.parameters:
            self.parameters[tid] = trial_parameters(
                self.store.properties(tid), (row["definition"] or {}).get("arguments") or [],
                self.trial.get("arguments") or [])
        return self.parameters[tid]

    def _apply_policy(self, trials: list[dict[str, Any]]) -> None:
        if self.settings.policy.kind == "none":
            return
        reports = {t["id"]: self._values(t) for t in trials}
        stopped = {t["id"] for t in trials if t["status"] == CANCELED or t["id"] in self.asked
                   or t["status"] == CANCEL_REQUESTED}
        finished = {t["id"] for t in trials
                    if t["status"] in RunStatus.TERMINAL and t["id"] not in stopped}
        decisions = self.settings.policy.decide(reports, self.settings.goal, finished, stopped,
                                                metric_name=self.settings.metric)
        rows = {t["id"]: t for t in trials}
        for tid, reason in decisions.items():
            self._log(f"stopping {tid}: {reason}")
            self._cancel_trial(rows[tid], error_record(reason, code=STOPPED_CODE))

    def _cancel_trial(self, row: dict[str, Any], error: dict[str, Any] | None) -> None:
        if row["id"] in self.asked:
            return
        from ..execution.control import request_cancel

        self.asked.add(row["id"])
        if error is not None:  # kept by the supervisor as the Canceled trial's error
            self.store.update_run(row["id"], error=error,
                                  only_if_status=(QUEUED, "Preparing", RUNNING))
        request_cancel(self.ws, self.store.get_run(row["id"]))

    def _submit_trials(self, trials: list[dict[str, Any]], room: int) -> int:
        history = [Trial(self._params_of(t), self._final(t),
                         t["status"] in RunStatus.TERMINAL) for t in trials]
        suggested = self.settings.sampling.suggest(room, history, goal=self.settings.goal)
        if len(suggested) < room:
            self.exhausted = True  # a grid ran out
        next_index = max([_index(t["id"]) for t in trials], default=-1) + 1
        for offset, parameters in enumerate(suggested):
            self._submit_one(next_index + offset, parameters)
        return len(suggested)

    def _final(self, row: dict[str, Any]) -> float | None:
        values = self._values(row)
        return values[-1] if values else None

    def _submit_one(self, index: int, parameters: dict[str, Any]) -> None:
        from ..api.config import ScriptRunConfig
        from ..execution.submit import submit

        trial = self.trial
        environment = self.private.get("environment", trial.get("environment"))
        if environment is not None:
            from ..api.environment import Environment

            environment = Environment.from_dict(environment)
        command = trial.get("command")
        arguments = list(trial.get("arguments") or []) + trial_arguments(parameters)
        if command:
            command, arguments = list(command) + arguments, None
        config = ScriptRunConfig(trial["sourceDirectory"], trial.get("script"),
                                 arguments=arguments, command=command, environment=environment,
                                 max_run_duration_seconds=trial.get("maxRunDurationSeconds"))
        config.run_config.environment_variables = dict(
            self.private.get("env", trial.get("environmentVariables")) or {})
        config.run_config.resources = dict(trial.get("resources") or {})
        child_id = f"{self.run_id}_{index}"
        submit(self.experiment, config, run_id=child_id, _parent_id=self.run_id,
               _snapshot_id=self.row["snapshot_id"])
        self.store.add_properties(child_id, {PARAMETERS_PROPERTY: json.dumps(parameters)})
        self.store.set_params(child_id, {param_name(k): v for k, v in parameters.items()},
                              "sweep")
        self.parameters[child_id] = dict(parameters)
        self._log(f"submitted {child_id} with {parameters}")

    # ---------------------------------------------------------------- ending

    def _outcome(self, trials: list[dict[str, Any]]) -> tuple[str, dict[str, Any] | None]:
        if trials and all(t["status"] == FAILED for t in trials):
            first = (trials[0].get("error") or {}).get("error") or {}
            return FAILED, error_record(
                f"All {len(trials)} trials of the sweep failed; the first: "
                f"{first.get('message') or 'no error recorded'}", code="AllTrialsFailed")
        return COMPLETED, None

    def _finish(self, status: str, error: dict[str, Any] | None) -> None:
        self.store.update_run(
            self.run_id, status=status, end_time=time.time(), error=error,
            only_if_status=tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL))
        self._touch(status)


def _index(run_id: str) -> int:
    tail = run_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.sweep.owner WORKSPACE_ROOT RUN_ID``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runner.sweep.owner WORKSPACE_ROOT RUN_ID", file=sys.stderr)
        return 2
    return SweepOwner(args[0], args[1]).run()


if __name__ == "__main__":
    sys.exit(main())
