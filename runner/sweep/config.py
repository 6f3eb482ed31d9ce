"""``HyperDriveConfig``: what a sweep is, checked before anything is written (v1's names).

A sweep is one :class:`~runner.ScriptRunConfig` run many times, each trial with sampled
arguments appended as ``--name value``. The config holds the sampler, the early-termination
policy, the primary metric and its goal and the limits; :meth:`HyperDriveConfig.to_dict`
is the serialised sweep kept in the parent run's record, so a sweep whose owner died can be
resumed from the record alone (``runner sweep resume PARENT``).

Resuming the v1 way, ``resume_from=`` (warm start from earlier sweeps) and
``resume_child_runs=`` (restart trials from their checkpoints), is refused by name: runner
resumes the same sweep instead.
"""

from __future__ import annotations

import numbers
from typing import Any

from ..api.config import LOCAL, ScriptRunConfig
from ..core.errors import UsageError
from .policy import EarlyTerminationPolicy, PrimaryMetricGoal, policy_from_dict
from .sampling import HyperParameterSampling, check_sampling_policy, sampling_from_dict

#: The most trials a sweep may have (v1's service limit).
MAX_TOTAL_RUNS = 1000
#: The most trials a sweep may run at once (v1's service limit).
MAX_CONCURRENT_RUNS = 100


def _positive_int(value: Any, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not (
            1 <= value <= limit):
        raise UsageError(f"HyperDriveConfig: {name} must be an integer from 1 to {limit}, "
                         f"got {value!r}.")
    return int(value)


class HyperDriveConfig:
    """A hyperparameter sweep over a script (v1's ``azureml.train.hyperdrive.HyperDriveConfig``).

    Args:
        run_config: the :class:`~runner.ScriptRunConfig` every trial runs; the sampled
            arguments are appended to its arguments as ``--name value``.
        hyperparameter_sampling: a ``RandomParameterSampling``, ``GridParameterSampling``
            or ``BayesianParameterSampling``.
        primary_metric_name: the metric the trials log and the policy judges.
        primary_metric_goal: ``PrimaryMetricGoal.MAXIMIZE`` or ``MINIMIZE``.
        max_total_runs: how many trials in all (a grid may run out first).
        policy: an early-termination policy; None (the default) stops no trial.
        max_concurrent_runs: trials running at once (default: all of them, up to 100;
            the workspace's ``max_concurrent_runs`` still caps what runs).
        max_duration_minutes: after this many minutes, running trials are canceled and
            the sweep ends.
        resume_from: refused; resume a sweep with ``runner sweep resume PARENT``.
        resume_child_runs: refused, for the same reason.
        estimator: refused; v1's estimators are gone, pass ``run_config``.

    Raises:
        UsageError: for any invalid or unsupported setting, naming it.
    """

    def __init__(self, hyperparameter_sampling: HyperParameterSampling,
                 primary_metric_name: str, primary_metric_goal: PrimaryMetricGoal | str,
                 max_total_runs: int, max_concurrent_runs: int | None = None,
                 max_duration_minutes: float | None = None,
                 policy: EarlyTerminationPolicy | None = None, estimator: Any = None,
                 run_config: ScriptRunConfig | None = None, resume_from: Any = None,
                 resume_child_runs: Any = None, pipeline: Any = None,
                 debug_flag: Any = None, custom_run_id: Any = None,
                 **kwargs: Any) -> None:
        for name, value, hint in (
            ("estimator", estimator, "pass a ScriptRunConfig as run_config"),
            ("pipeline", pipeline, "sweep a ScriptRunConfig as run_config"),
            ("resume_from", resume_from,
             "resume the same sweep with `runner sweep resume PARENT` (or "
             "runner.sweep.resume.resume_sweep)"),
            ("resume_child_runs", resume_child_runs,
             "resume the same sweep with `runner sweep resume PARENT`; trials that ended "
             "are not restarted"),
            ("debug_flag", debug_flag, "leave it out"),
            ("custom_run_id", custom_run_id, "pass run_id= to Experiment.submit"),
        ):
            if value is not None:
                raise UsageError(f"HyperDriveConfig: {name} is not supported here; {hint}.")
        if kwargs:
            raise UsageError(f"HyperDriveConfig got unexpected arguments: "
                             f"{', '.join(sorted(kwargs))}.")
        if not isinstance(run_config, ScriptRunConfig):
            raise UsageError(
                "HyperDriveConfig needs run_config=ScriptRunConfig(...) (the script every "
                f"trial runs), got {type(run_config).__name__}.")
        target = run_config.run_config.target
        if target not in (None, LOCAL) and getattr(target, "name", target) != LOCAL:
            raise UsageError(
                f"HyperDriveConfig: trials run on this machine; the run_config's compute "
                f"target {target!r} is not supported for sweeps. Use 'local'.")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise UsageError(
                "HyperDriveConfig: hyperparameter_sampling must be a RandomParameterSampling, "
                "GridParameterSampling or BayesianParameterSampling, got "
                f"{type(hyperparameter_sampling).__name__}.")
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise UsageError(
                "HyperDriveConfig: policy must be a BanditPolicy, MedianStoppingPolicy, "
                f"TruncationSelectionPolicy, NoTerminationPolicy or None, got {policy!r}.")
        check_sampling_policy(hyperparameter_sampling, policy)
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise UsageError("HyperDriveConfig: primary_metric_name must be a metric name "
                             f"(a non-empty string), got {primary_metric_name!r}.")
        self.run_config = run_config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.policy = policy if policy is not None else policy_from_dict(None)
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = PrimaryMetricGoal.parse(primary_metric_goal)
        self.max_total_runs = _positive_int(max_total_runs, "max_total_runs", MAX_TOTAL_RUNS)
        self.max_concurrent_runs = (
            min(self.max_total_runs, MAX_CONCURRENT_RUNS) if max_concurrent_runs is None
            else _positive_int(max_concurrent_runs, "max_concurrent_runs", MAX_CONCURRENT_RUNS))
        if max_duration_minutes is not None and (
                isinstance(max_duration_minutes, bool)
                or not isinstance(max_duration_minutes, numbers.Real)
                or not max_duration_minutes > 0):
            raise UsageError("HyperDriveConfig: max_duration_minutes must be a number > 0, "
                             f"got {max_duration_minutes!r}.")
        self.max_duration_minutes = (None if max_duration_minutes is None
                                     else float(max_duration_minutes))

    def sweep_dict(self) -> dict[str, Any]:
        """The sweep's own settings, JSON-able (kept in the parent's run definition)."""
        return sweep_settings(self.hyperparameter_sampling, self.policy,
                              self.primary_metric_name, self.primary_metric_goal,
                              self.max_total_runs, self.max_concurrent_runs,
                              self.max_duration_minutes)

    def __repr__(self) -> str:
        return (f"<HyperDriveConfig {self.hyperparameter_sampling!r} {self.policy!r} "
                f"{self.primary_metric_goal.value} {self.primary_metric_name!r} "
                f"max_total_runs={self.max_total_runs}>")


def sweep_settings(sampling: HyperParameterSampling, policy: EarlyTerminationPolicy,
                   metric: str, goal: PrimaryMetricGoal, total: int, concurrent: int,
                   minutes: float | None) -> dict[str, Any]:
    """The serialised sweep (see :class:`SweepSettings`)."""
    return {
        "sampling": sampling.to_dict(),
        "policy": policy.to_dict(),
        "primaryMetricName": metric,
        "primaryMetricGoal": goal.value,
        "maxTotalRuns": total,
        "maxConcurrentRuns": concurrent,
        "maxDurationMinutes": minutes,
    }


class SweepSettings:
    """A sweep rebuilt from its record (:meth:`HyperDriveConfig.sweep_dict`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or "sampling" not in data:
            raise UsageError(f"this run holds no sweep definition ({data!r}); is it a "
                             "HyperDrive parent run?")
        self.sampling = sampling_from_dict(data["sampling"])
        self.policy = policy_from_dict(data.get("policy"))
        self.metric: str = data["primaryMetricName"]
        self.goal = PrimaryMetricGoal.parse(data["primaryMetricGoal"])
        self.max_total_runs: int = int(data["maxTotalRuns"])
        self.max_concurrent_runs: int = int(data["maxConcurrentRuns"])
        minutes = data.get("maxDurationMinutes")
        self.max_duration_minutes: float | None = None if minutes is None else float(minutes)
