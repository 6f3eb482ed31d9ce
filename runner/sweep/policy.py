"""Early-termination policies as pure decisions over the metric values trials have logged.

A sweep owner keeps, for each trial, the values it logged for the primary metric and asks
its policy which trials to stop now. The policies follow Azure ML v1's
``azureml.train.hyperdrive`` rules; none keeps state, so the same reports always give the
same answer and a record of the policy (:meth:`EarlyTerminationPolicy.to_dict`) is all a
resumed sweep needs.

Terms used throughout:

* *report k* is the k-th value a trial logged for the primary metric, counted from 1;
* a trial's *best at report r* is the best of its first ``r`` values for the goal;
* *evaluation points* are the report counts ``r`` that are multiples of
  ``evaluation_interval`` and at least ``delay_evaluation`` (v1: "the policy applies every
  multiple of evaluation_interval that is greater than or equal to delay_evaluation").
  With ``evaluation_interval=1, delay_evaluation=5`` the first evaluation is at report 5.

A running trial is judged at its latest evaluation point ``r``, against every trial (running,
finished or stopped) that has logged at least ``r`` values, each cut to its first ``r``
values, so young trials are compared with what older trials had at the same age.
"""

from __future__ import annotations

import math
import numbers
import statistics
from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable, Mapping, Sequence
from enum import Enum
from typing import Any, ClassVar, Optional

from ..core.errors import UsageError

TrialId = Hashable


class PrimaryMetricGoal(Enum):
    """Whether the primary metric should go up or down (v1's names and values)."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @classmethod
    def parse(cls, value: PrimaryMetricGoal | str) -> PrimaryMetricGoal:
        """Accept a member or its name in any case (``"maximize"``).

        Raises:
            UsageError: For anything else.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise UsageError(
            f"primary metric goal {value!r} is not valid; use PrimaryMetricGoal.MAXIMIZE "
            "or PrimaryMetricGoal.MINIMIZE."
        )

    def better(self, a: float, b: float) -> bool:
        """Return True when ``a`` is strictly better than ``b`` for this goal."""
        return a > b if self is PrimaryMetricGoal.MAXIMIZE else a < b

    def best(self, values: Sequence[float]) -> float:
        """Return the best of non-empty ``values`` for this goal."""
        return max(values) if self is PrimaryMetricGoal.MAXIMIZE else min(values)


def _fmt(value: float) -> str:
    """Six significant digits, always with a decimal point or exponent (3012.0, 1e-07)."""
    return repr(float(f"{value:.6g}")) if math.isfinite(value) else str(value)


def _interval_arg(value: Any, name: str, minimum: int, policy: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"{policy}: {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _slack_arg(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
        math.isfinite(value) and value >= 0
    ):
        raise UsageError(f"BanditPolicy: {name} must be a finite number >= 0, got {value!r}.")
    return float(value)


class EarlyTerminationPolicy(ABC):
    """A rule that picks running trials to stop; see the module docstring for the terms."""

    kind: ClassVar[str]
    #: The constructor's arguments, in order; :meth:`to_dict` stores these attributes.
    _fields: ClassVar[tuple[str, ...]] = ()

    def decide(
        self,
        reports: Mapping[TrialId, Sequence[float]],
        goal: PrimaryMetricGoal | str,
        finished: Collection[TrialId] = (),
        stopped: Collection[TrialId] = (),
        *,
        metric_name: str = "metric",
    ) -> dict[TrialId, str]:
        """Pick the trials to stop now.

        Pure and idempotent: the answer depends only on the arguments, and never names a
        trial in ``finished`` or ``stopped``. Call it as often as you like; stop what it
        returns, record the reason on the trial, and pass the trial in ``stopped`` after.
        Each running trial is judged at its latest evaluation point (a trial with fewer
        reports than the first point is left alone).

        Args:
            reports: For every trial of the sweep (running, finished or stopped), the
                values it logged for the primary metric, in order. Non-finite values count
                as the worst possible.
            goal: Whether higher or lower is better.
            finished: Trials that ended on their own; used as peers, never stopped.
            stopped: Trials already stopped; used as peers, never returned again.
            metric_name: The primary metric's name, used in the reasons.

        Returns:
            ``{trial_id: reason}`` for each trial to stop now, e.g.
            ``"BanditPolicy: best mse 3500.1 at report 4 is outside slack_factor 0.1 of
            the best 3012.0 (trial 'b'); limit 3313.2"``.

        Raises:
            UsageError: For a bad goal or a value that is not a number.
        """
        goal = PrimaryMetricGoal.parse(goal)
        worst = -math.inf if goal is PrimaryMetricGoal.MAXIMIZE else math.inf
        series = {tid: _clean(values, tid, worst) for tid, values in reports.items()}
        return self._decide(series, goal, set(finished), set(stopped), metric_name)

    @abstractmethod
    def _decide(self, series: dict[TrialId, list[float]], goal: PrimaryMetricGoal,
                finished: set[TrialId], stopped: set[TrialId], metric: str) -> dict[TrialId, str]:
        """:meth:`decide` on checked input (non-finite values already made the worst)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form, ``{"kind": ..., <argument>: <value>, ...}``."""
        return {"kind": self.kind, **{name: getattr(self, name) for name in self._fields}}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"{type(self).__name__}({args})"


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Never stops a trial: every trial runs to its end."""

    kind = "none"

    def _decide(self, series, goal, finished, stopped, metric):
        return {}


class _IntervalPolicy(EarlyTerminationPolicy):
    """The shared frame: evaluation points, peers cut to the same report, reasons."""

    _fields = ("evaluation_interval", "delay_evaluation")

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        name = type(self).__name__
        self.evaluation_interval = _interval_arg(
            evaluation_interval, "evaluation_interval", 1, name
        )
        self.delay_evaluation = _interval_arg(delay_evaluation, "delay_evaluation", 0, name)

    def is_evaluation_point(self, report: int) -> bool:
        """Return True when a trial that has just logged report ``report`` is judged."""
        return 1 <= report and self.delay_evaluation <= report and (
            report % self.evaluation_interval == 0
        )

    def latest_evaluation_point(self, count: int) -> int | None:
        """Return the last evaluation point at or before ``count`` reports, or None."""
        report = count - count % self.evaluation_interval
        return report if report >= 1 and self.is_evaluation_point(report) else None

    def _decide(self, series, goal, finished, stopped, metric):
        by_point: dict[int, list[TrialId]] = {}
        for tid, values in series.items():
            if tid in finished or tid in stopped:
                continue
            point = self.latest_evaluation_point(len(values))
            if point is not None:
                by_point.setdefault(point, []).append(tid)
        out: dict[TrialId, str] = {}
        for point in sorted(by_point):
            peers = {
                tid: goal.best(values[:point])
                for tid, values in series.items()
                if len(values) >= point
            }
            raw = {tid: values[:point] for tid, values in series.items() if len(values) >= point}
            out.update(self._judge(point, by_point[point], peers, raw, goal, finished, metric))
        return out

    @abstractmethod
    def _judge(self, point: int, candidates: list[TrialId], peers: dict[TrialId, float],
               raw: dict[TrialId, list[float]], goal: PrimaryMetricGoal,
               finished: set[TrialId], metric: str) -> dict[TrialId, str]:
        """Decide for ``candidates`` at report ``point``.

        ``raw`` maps every trial with at least ``point`` values to its first ``point``
        values, ``peers`` to the best of them.
        """


def _clean(values: Sequence[Any], tid: TrialId, worst: float) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise UsageError(f"reports for trial {tid!r} must be a list of numbers, got {values!r}.")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"trial {tid!r} reported {value!r}, which is not a number.")
        out.append(float(value) if math.isfinite(value) else worst)
    return out


class BanditPolicy(_IntervalPolicy):
    """Stop trials whose best so far is not within a slack of the best trial's.

    With ``slack_factor`` ``s`` and the best peer value ``b`` at the same report, a trial
    is stopped when its best is below ``b / (1 + s)`` (MAXIMIZE) or above ``b * (1 + s)``
    (MINIMIZE); for a negative ``b`` the same distance, ``|b| * s / (1 + s)`` or
    ``|b| * s``, is taken on the worse side. With ``slack_amount`` ``a`` the limit is
    ``b - a`` (MAXIMIZE) or ``b + a`` (MINIMIZE). The trial holding the best is never
    stopped.

    Args:
        slack_factor: The allowed distance as a ratio of the best.
        slack_amount: The allowed distance as an absolute amount.
        evaluation_interval: Judge every this many reports.
        delay_evaluation: Judge no report before this one.

    Raises:
        UsageError: Unless exactly one of ``slack_factor`` / ``slack_amount`` is a number
            >= 0, and the intervals are integers (``evaluation_interval >= 1``,
            ``delay_evaluation >= 0``).
    """

    kind = "bandit"
    _fields = ("slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation")

    def __init__(
        self,
        slack_factor: Optional[float] = None,
        slack_amount: Optional[float] = None,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
    ) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        self.slack_factor = _slack_arg(slack_factor, "slack_factor")
        self.slack_amount = _slack_arg(slack_amount, "slack_amount")
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise UsageError(
                "BanditPolicy needs exactly one of slack_factor (a ratio, e.g. 0.1) or "
                "slack_amount (an absolute distance); pass one and drop the other."
            )

    def limit(self, best: float, goal: PrimaryMetricGoal) -> float:
        """Return the worst value still within slack of ``best``."""
        if self.slack_factor is not None:
            s = self.slack_factor
            room = abs(best) * (s / (1 + s) if goal is PrimaryMetricGoal.MAXIMIZE else s)
        else:
            room = self.slack_amount or 0.0
        return best - room if goal is PrimaryMetricGoal.MAXIMIZE else best + room

    def _judge(self, point, candidates, peers, raw, goal, finished, metric):
        best = goal.best(list(peers.values()))
        leader = next(tid for tid, value in peers.items() if value == best)
        limit = self.limit(best, goal)
        slack = (
            f"slack_factor {self.slack_factor!r}"
            if self.slack_factor is not None
            else f"slack_amount {self.slack_amount!r}"
        )
        return {
            tid: (
                f"BanditPolicy: best {metric} {_fmt(peers[tid])} at report {point} is outside "
                f"{slack} of the best {_fmt(best)} (trial {leader!r}); limit {_fmt(limit)}"
            )
            for tid in candidates
            if tid != leader and goal.better(limit, peers[tid])
        }


class MedianStoppingPolicy(_IntervalPolicy):
    """Stop trials whose best so far is worse than the median of running averages.

    At report ``r`` the running average of a peer is the mean of its first ``r`` values;
    a trial is stopped when its best of its first ``r`` values is strictly worse than the
    median of those averages over every trial with at least ``r`` values (itself included).

    Args:
        evaluation_interval: Judge every this many reports.
        delay_evaluation: Judge no report before this one.

    Raises:
        UsageError: Unless ``evaluation_interval >= 1`` and ``delay_evaluation >= 0``.
    """

    kind = "median"

    def _judge(self, point, candidates, peers, raw, goal, finished, metric):
        averages = [statistics.fmean(values) for values in raw.values()]
        median = statistics.median(averages)
        return {
            tid: (
                f"MedianStoppingPolicy: best {metric} {_fmt(peers[tid])} at report {point} is "
                f"worse than the median {_fmt(median)} of the running averages of "
                f"{len(averages)} trials"
            )
            for tid in candidates
            if goal.better(median, peers[tid])
        }


class TruncationSelectionPolicy(_IntervalPolicy):
    """Stop the trials ranked in the lowest ``truncation_percentage`` at each evaluation.

    At report ``r`` the trials with at least ``r`` values are ranked by their best of their
    first ``r`` values; the lowest ``floor(n * truncation_percentage / 100)`` of the ``n``
    ranked are stopped if still running (ties rank in the order of ``reports``). With
    ``exclude_finished_jobs`` finished trials are left out of the ranking.

    Args:
        truncation_percentage: The share to cut, an integer from 1 to 99.
        evaluation_interval: Judge every this many reports.
        delay_evaluation: Judge no report before this one.
        exclude_finished_jobs: Leave finished trials out of the ranking.

    Raises:
        UsageError: For a percentage outside 1..99, bad intervals, or a non-bool flag.
    """

    kind = "truncation"
    _fields = (
        "truncation_percentage", "evaluation_interval", "delay_evaluation",
        "exclude_finished_jobs",
    )

    def __init__(
        self,
        truncation_percentage: int,
        evaluation_interval: int = 1,
        delay_evaluation: int = 0,
        exclude_finished_jobs: bool = False,
    ) -> None:
        super().__init__(evaluation_interval, delay_evaluation)
        pct = truncation_percentage
        if isinstance(pct, bool) or not isinstance(pct, numbers.Integral) or not 1 <= pct <= 99:
            raise UsageError(
                "TruncationSelectionPolicy: truncation_percentage must be an integer from 1 "
                f"to 99 (the share of trials to cut), got {pct!r}."
            )
        if not isinstance(exclude_finished_jobs, bool):
            raise UsageError(
                "TruncationSelectionPolicy: exclude_finished_jobs must be True or False, "
                f"got {exclude_finished_jobs!r}."
            )
        self.truncation_percentage = int(pct)
        self.exclude_finished_jobs = exclude_finished_jobs

    def _judge(self, point, candidates, peers, raw, goal, finished, metric):
        ranked = [
            tid for tid in peers if not (self.exclude_finished_jobs and tid in finished)
        ]
        # Best first; sorted() is stable, so ties keep the order of ``reports``.
        ranked.sort(key=lambda tid: -peers[tid] if goal is PrimaryMetricGoal.MAXIMIZE
                    else peers[tid])
        cut = len(ranked) * self.truncation_percentage // 100
        lowest = set(ranked[len(ranked) - cut:]) if cut else set()
        return {
            tid: (
                f"TruncationSelectionPolicy: best {metric} {_fmt(peers[tid])} at report "
                f"{point} ranks {ranked.index(tid) + 1} of {len(ranked)} trials, in the "
                f"lowest {self.truncation_percentage}% ({cut} trials)"
            )
            for tid in candidates
            if tid in lowest
        }


_POLICIES: dict[str, type[EarlyTerminationPolicy]] = {
    cls.kind: cls
    for cls in (NoTerminationPolicy, BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy)
}


def policy_from_dict(data: Mapping[str, Any] | None) -> EarlyTerminationPolicy:
    """Rebuild a policy from :meth:`EarlyTerminationPolicy.to_dict`'s form.

    Args:
        data: The stored form; None gives :class:`NoTerminationPolicy` (v1's ``policy=None``).

    Raises:
        UsageError: For an unknown kind or invalid arguments.
    """
    if data is None:
        return NoTerminationPolicy()
    if not isinstance(data, Mapping) or data.get("kind") not in _POLICIES:
        raise UsageError(
            f"unknown early-termination policy {data!r}; expected a dict whose 'kind' is "
            f"one of {', '.join(_POLICIES)}."
        )
    args = {k: v for k, v in data.items() if k != "kind"}
    try:
        return _POLICIES[data["kind"]](**args)
    except TypeError as exc:
        raise UsageError(f"stored {data['kind']} policy has bad arguments: {exc}.")
