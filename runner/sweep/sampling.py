"""Samplers: how a sweep turns its parameter space into trials (v1's ``*ParameterSampling``).

The sweep owner asks a sampler for the next parameter dicts with
:meth:`HyperParameterSampling.suggest`, passing every trial issued so far (in issue order,
running ones included) with its primary-metric value once known. Samplers keep no state
between calls: the same history gives the same suggestions, so a sweep stored with
:meth:`HyperParameterSampling.to_dict` resumes where it stopped.

* :class:`GridParameterSampling` walks every combination of ``choice`` values in
  ``itertools.product`` order (the last parameter varies fastest); the caller caps it with
  ``max_total_runs``.
* :class:`RandomParameterSampling` draws trial ``i`` from a generator seeded by
  ``(seed, i)``, so a seed fixes the whole sequence however the calls are batched.
* :class:`BayesianParameterSampling` asks Optuna's TPE sampler (an optional dependency,
  ``pip install "runner[sweep]"``), telling it the history first.

Serialised form: ``{"kind": "grid" | "random" | "bayesian", "parameter_space": {...}}``
plus ``"seed"`` and ``"properties"`` for random and Bayesian.
"""

from __future__ import annotations

import math
import numbers
import random
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

from ..core.errors import UsageError
from .policy import EarlyTerminationPolicy, NoTerminationPolicy, PrimaryMetricGoal
from .space import (
    ParameterExpression,
    quantise,
    sample_space,
    space_from_dict,
    space_to_dict,
    validate_space,
)

_INSTALL_HINT = 'pip install "runner[sweep]"'


@dataclass(frozen=True)
class Trial:
    """One trial as a sampler sees it.

    Attributes:
        parameters: The values it was given.
        value: Its primary-metric result (for Bayesian: the value to optimise), or None
            while running or when it ended without one.
        finished: False while it runs.
    """

    parameters: Mapping[str, Any]
    value: Optional[float] = None
    finished: bool = True


History = Sequence[Union[Trial, Mapping[str, Any]]]


def _as_trial(item: Trial | Mapping[str, Any]) -> Trial:
    if isinstance(item, Trial):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("parameters"), Mapping):
        return Trial(item["parameters"], item.get("value"), bool(item.get("finished", True)))
    raise UsageError(
        f"history entry {item!r} must be a Trial or a dict with 'parameters' "
        "(and optionally 'value' and 'finished')."
    )


def _count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise UsageError(f"suggest(count): count must be an integer >= 0, got {count!r}.")
    return int(count)


def _seed_and_properties(
    name: str, properties: Mapping[str, Any] | None, seed: int | None
) -> tuple[int, dict[str, Any]]:
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping) or not all(isinstance(k, str) for k in properties):
        raise UsageError(f"{name}: properties must be a dict such as {{'rngSeed': 42}}.")
    props = dict(properties)
    given = [s for s in (seed, props.get("rngSeed")) if s is not None]
    for s in given:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise UsageError(f"{name}: the seed must be an integer, got {s!r}.")
    if len(given) == 2 and given[0] != given[1]:
        raise UsageError(
            f"{name}: seed={given[0]!r} and properties['rngSeed']={given[1]!r} differ; "
            "pass one of them."
        )
    # Without a seed, pick one now and keep it, so a stored sweep resumes the same sequence.
    chosen = int(given[0]) if given else random.SystemRandom().randrange(2**31)
    return chosen, props


def _derived_seed(seed: int, index: int) -> int:
    """A 32-bit seed for step ``index`` of a sequence seeded by ``seed``."""
    return random.Random(f"{seed}:{index}").getrandbits(32)


class HyperParameterSampling(ABC):
    """A way of choosing trials' parameters from a space (v1's base class name)."""

    kind: ClassVar[str]
    #: The expression kinds this sampler accepts; None for all.
    allowed_kinds: ClassVar[Optional[tuple[str, ...]]] = None
    _hint: ClassVar[str] = "Change it, or use RandomParameterSampling."

    def __init__(self, parameter_space: Mapping[str, ParameterExpression]) -> None:
        self._space = validate_space(parameter_space)
        for name, expr in self._space.items():
            if self.allowed_kinds is not None and expr.kind not in self.allowed_kinds:
                raise UsageError(
                    f"{type(self).__name__} supports only {', '.join(self.allowed_kinds)}; "
                    f"parameter {name!r} is {expr!r}. {self._hint}"
                )

    @property
    def parameter_space(self) -> dict[str, ParameterExpression]:
        """The space, ``{name: expression}``, in its given order (a copy)."""
        return dict(self._space)

    @abstractmethod
    def suggest(
        self,
        count: int,
        history: History = (),
        *,
        goal: PrimaryMetricGoal | str | None = None,
    ) -> list[dict[str, Any]]:
        """Return the parameters of the next trials.

        Args:
            count: How many trials to suggest (fewer come back when a grid runs out).
            history: Every trial issued so far, in issue order, running ones included, as
                :class:`Trial` or ``{"parameters": ..., "value": ..., "finished": ...}``.
            goal: Whether the primary metric should go up or down; Bayesian needs it.

        Returns:
            One ``{name: value}`` dict per trial, names exactly as in the space.

        Raises:
            UsageError: For a bad count, history entry or goal.
        """

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form (see the module docstring)."""
        return {"kind": self.kind, "parameter_space": space_to_dict(self._space)}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._space!r})"


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the ``choice`` values, in a stable order.

    Args:
        parameter_space: ``{name: choice(...)}``; v1's grid supports only ``choice``.

    Raises:
        UsageError: If the space is invalid or holds anything but ``choice``.
    """

    kind = "grid"
    allowed_kinds = ("choice",)
    _hint = "List the values to try with choice(...), or use RandomParameterSampling."

    def __init__(self, parameter_space: Mapping[str, ParameterExpression]) -> None:
        super().__init__(parameter_space)
        self._values = [expr.grid_values() for expr in self._space.values()]

    @property
    def total(self) -> int:
        """The number of combinations."""
        return math.prod(len(values) for values in self._values)

    def combination(self, index: int) -> dict[str, Any]:
        """Return combination ``index`` (0-based) of ``itertools.product`` order.

        Raises:
            UsageError: If ``index`` is outside ``0..total-1``.
        """
        if not 0 <= index < self.total:
            raise UsageError(f"grid index {index} is outside 0..{self.total - 1}.")
        picked = []
        for values in reversed(self._values):
            index, digit = divmod(index, len(values))
            picked.append(values[digit])
        return dict(zip(self._space, reversed(picked)))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield every combination in order."""
        return (self.combination(i) for i in range(self.total))

    def suggest(self, count, history=(), *, goal=None):
        """See :meth:`HyperParameterSampling.suggest`."""
        start = len(history)
        stop = min(self.total, start + _count(count))
        return [self.combination(i) for i in range(start, stop)]


class _SeededSampling(HyperParameterSampling):
    """A sampler with a seed, v1's ``properties`` and both in its stored form."""

    def __init__(
        self,
        parameter_space: Mapping[str, ParameterExpression],
        properties: Optional[Mapping[str, Any]] = None,
        *,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(parameter_space)
        self.seed, self.properties = _seed_and_properties(type(self).__name__, properties, seed)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form, with ``seed`` and ``properties``."""
        return {**super().to_dict(), "seed": self.seed, "properties": dict(self.properties)}


class RandomParameterSampling(_SeededSampling):
    """Independent random draws from every kind of expression.

    Args:
        parameter_space: ``{name: expression}``, any kind.
        properties: v1's extra settings; ``{"rngSeed": 42}`` fixes the sequence. Other
            keys are kept as given.
        seed: The same as ``properties={"rngSeed": seed}``.

    Raises:
        UsageError: For an invalid space, a non-integer seed, or two different seeds.
    """

    kind = "random"

    def suggest(self, count, history=(), *, goal=None):
        """See :meth:`HyperParameterSampling.suggest`."""
        start = len(history)
        return [
            sample_space(self._space, random.Random(f"{self.seed}:{i}"))
            for i in range(start, start + _count(count))
        ]


class BayesianParameterSampling(_SeededSampling):
    """Trials chosen by a Tree-structured Parzen Estimator (Optuna) from the finished ones.

    As in v1 the space may hold only ``choice``, ``uniform`` and ``quniform``, and no
    early-termination policy may be used with it (see :func:`check_sampling_policy`).
    ``quniform`` values are asked as ``uniform`` and rounded to ``q``.

    Args:
        parameter_space: ``{name: choice(...) | uniform(...) | quniform(...)}``.
        properties: Extra settings; ``{"rngSeed": 42}`` makes the suggestions repeatable.
        seed: The same as ``properties={"rngSeed": seed}``.

    Raises:
        UsageError: For an invalid space, another kind of expression, or a bad seed.
    """

    kind = "bayesian"
    allowed_kinds = ("choice", "uniform", "quniform")  # as in v1

    @staticmethod
    def check_available() -> None:
        """Raise :class:`UsageError` naming the install command if Optuna is missing."""
        _optuna()

    def suggest(self, count, history=(), *, goal=None):
        """See :meth:`HyperParameterSampling.suggest`."""
        count = _count(count)
        if goal is None:
            raise UsageError(
                "BayesianParameterSampling.suggest needs goal=PrimaryMetricGoal.MAXIMIZE "
                "or MINIMIZE."
            )
        goal = PrimaryMetricGoal.parse(goal)
        trials = [_as_trial(item) for item in history]
        optuna = _optuna()
        dists = {name: _distribution(optuna, expr) for name, expr in self._space.items()}
        state = optuna.trial.TrialState
        out: list[dict[str, Any]] = []
        with _quiet(optuna):
            study = optuna.create_study(
                direction=goal.value.lower(),
                sampler=optuna.samplers.TPESampler(
                    seed=_derived_seed(self.seed, len(trials)), constant_liar=True
                ),
            )
            for trial in trials:
                value = trial.value
                known = isinstance(value, numbers.Real) and math.isfinite(value)
                study.add_trial(optuna.trial.create_trial(
                    state=(
                        state.RUNNING if not trial.finished
                        else state.COMPLETE if known else state.FAIL
                    ),
                    value=float(value) if known and trial.finished else None,  # type: ignore[arg-type]
                    params=self._internal(trial.parameters),
                    distributions=dists,
                ))
            for _ in range(count):
                asked = study.ask(dists).params
                out.append({
                    name: quantise(asked[name], expr.args[2]) if expr.kind == "quniform"
                    else asked[name]
                    for name, expr in self._space.items()
                })
        return out

    def _internal(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """A past trial's values as Optuna's distributions hold them."""
        out: dict[str, Any] = {}
        for name, expr in self._space.items():
            if name not in parameters:
                raise UsageError(f"a trial in the history has no value for {name!r}.")
            value = parameters[name]
            if expr.kind == "choice":
                if value not in expr.args[0]:
                    raise UsageError(f"history value {value!r} for {name!r} is not in {expr!r}.")
            else:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise UsageError(f"history value {value!r} for {name!r} is not a number.")
                # A value rounded to q may lie just outside the bounds.
                value = min(max(float(value), expr.args[0]), expr.args[1])
            out[name] = value
        return out


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise UsageError(
            f"BayesianParameterSampling needs Optuna, which is not installed: {_INSTALL_HINT}"
        ) from exc
    return optuna


def _distribution(optuna: Any, expr: ParameterExpression) -> Any:
    dists = optuna.distributions
    if expr.kind == "choice":
        return dists.CategoricalDistribution(list(expr.args[0]))
    if expr.kind in ("uniform", "quniform"):  # quniform is rounded to q after asking
        return dists.FloatDistribution(float(expr.args[0]), float(expr.args[1]))
    raise UsageError(f"{expr!r} has no Bayesian form.")  # refused in __init__ already


@contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Silence Optuna's per-trial log lines and experimental warnings, then restore them."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


_SAMPLERS: dict[str, type[HyperParameterSampling]] = {
    cls.kind: cls
    for cls in (GridParameterSampling, RandomParameterSampling, BayesianParameterSampling)
}


def sampling_from_dict(data: Mapping[str, Any]) -> HyperParameterSampling:
    """Rebuild a sampler from :meth:`HyperParameterSampling.to_dict`'s form.

    Raises:
        UsageError: For an unknown kind or an invalid space or seed.
    """
    if not isinstance(data, Mapping) or data.get("kind") not in _SAMPLERS:
        raise UsageError(
            f"unknown parameter sampling {data!r}; expected a dict whose 'kind' is one of "
            f"{', '.join(_SAMPLERS)}."
        )
    cls = _SAMPLERS[data["kind"]]
    space = space_from_dict(data.get("parameter_space"))  # type: ignore[arg-type]
    if cls is GridParameterSampling:
        return cls(space)
    return cls(space, data.get("properties"), seed=data.get("seed"))  # type: ignore[call-arg]


def check_sampling_policy(
    sampling: HyperParameterSampling, policy: EarlyTerminationPolicy | None
) -> None:
    """Refuse a sampler / policy pair that v1 refuses.

    Args:
        sampling: The sweep's sampler.
        policy: Its early-termination policy, or None.

    Raises:
        UsageError: For Bayesian sampling with any policy but :class:`NoTerminationPolicy`.
    """
    if isinstance(sampling, BayesianParameterSampling) and not (
        policy is None or isinstance(policy, NoTerminationPolicy)
    ):
        raise UsageError(
            f"BayesianParameterSampling does not support early termination, got {policy!r}; "
            "pass policy=None or NoTerminationPolicy(), or use RandomParameterSampling."
        )
