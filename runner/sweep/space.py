"""Parameter expressions: the search space of a sweep, with Azure ML v1's names and meaning.

A sweep script written for ``azureml.train.hyperdrive`` describes its space as
``{"--lr": loguniform(-6, -1), "--batch": choice(16, 32, 64)}``. The functions here
build the same expressions as small immutable objects that can draw one value from a
:class:`random.Random`, list their values (``choice`` only, as v1's grid allows) and
round-trip through a JSON-able dict, so a sweep definition can be kept in a run record
and resumed.

Semantics follow v1: ``randint(upper)`` draws from ``0..upper-1``; the ``log*`` kinds
exponentiate, so ``loguniform(min_value, max_value)`` takes its bounds *in log space*
(values fall in ``[exp(min_value), exp(max_value)]``); the ``q*`` kinds round to a
multiple of ``q`` as ``round(x / q) * q``. With an integer ``q`` a quantised value is an
``int`` (so ``--batch 32`` reaches the script, not ``32.0``).

Serialised form of one expression: ``{"kind": "uniform", "min_value": 0, "max_value": 1}``
(``{"kind": "choice", "options": [...]}`` for choice); of a space:
``{name: expression_dict, ...}`` in the given order.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from ..core.errors import UsageError

#: A value ``choice`` can offer: what JSON (and Optuna) can hold.
OptionValue = Union[str, int, float, bool, None]

#: Each kind's argument names, in v1's order.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "choice": ("options",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}

#: ``math.exp`` overflows above this exponent.
_MAX_EXPONENT = 709.0


def quantise(value: float, q: int | float) -> int | float:
    """Round to a multiple of ``q`` as v1 does: ``round(value / q) * q``.

    Args:
        value: The value to round.
        q: The step, > 0.

    Returns:
        An ``int`` for an integer ``q``; else a float cleaned of binary noise (0.3, not
        0.30000000000000004).
    """
    steps = round(value / q)
    if isinstance(q, int):
        return int(steps) * q
    return float(format(steps * q, ".15g"))


@dataclass(frozen=True)
class ParameterExpression:
    """One parameter's distribution; immutable, comparable, hashable, JSON-able.

    Build it with the v1 functions (:func:`choice`, :func:`uniform`, ...), not directly.

    Attributes:
        kind: The v1 function name, e.g. ``"quniform"``.
        args: Its arguments in v1's order (for ``choice``: the tuple of options, once).
    """

    kind: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.kind not in ARGUMENTS:
            raise UsageError(
                f"unknown parameter expression {self.kind!r}; use one of {', '.join(ARGUMENTS)}."
            )
        if not isinstance(self.args, tuple) or len(self.args) != len(ARGUMENTS[self.kind]):
            raise UsageError(f"{self.kind} takes {', '.join(ARGUMENTS[self.kind])}.")
        object.__setattr__(self, "args", _checked(self.kind, self.args))

    @property
    def arguments(self) -> dict[str, Any]:
        """The arguments by name, e.g. ``{"min_value": 0, "max_value": 1}``."""
        return dict(zip(ARGUMENTS[self.kind], self.args))

    @property
    def discrete(self) -> bool:
        """True when every value is one of a countable set (``choice``, ``randint``, ``q*``)."""
        return self.kind in ("choice", "randint") or self.kind.startswith("q")

    def sample(self, rng: random.Random) -> Any:
        """Draw one value.

        Args:
            rng: The source of randomness; the same state gives the same value.

        Returns:
            The value, as it will be passed to the trial.
        """
        kind, args = self.kind, self.args
        if kind == "choice":
            return rng.choice(args[0])
        if kind == "randint":
            return rng.randrange(args[0])
        if kind.endswith("uniform"):
            value = rng.uniform(args[0], args[1])
        else:
            value = rng.normalvariate(args[0], args[1])
        if "log" in kind:
            try:
                value = math.exp(value)
            except OverflowError:
                raise UsageError(f"{self!r} drew exp({value:.4g}), which overflows; lower mu.")
        return quantise(value, args[2]) if kind.startswith("q") else value

    def grid_values(self) -> tuple[OptionValue, ...]:
        """List every value, for grid sampling.

        Returns:
            ``choice``'s options in their given order.

        Raises:
            UsageError: For every kind but ``choice`` (v1's grid supports only ``choice``).
        """
        if self.kind != "choice":
            raise UsageError(
                f"{self!r} cannot be enumerated: grid sampling supports only choice(). "
                "List the values to try with choice(...), or use RandomParameterSampling."
            )
        return self.args[0]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form, ``{"kind": ..., <argument>: <value>, ...}``."""
        data: dict[str, Any] = {"kind": self.kind, **self.arguments}
        if self.kind == "choice":
            data["options"] = list(data["options"])
        return data

    def __repr__(self) -> str:
        args = self.args[0] if self.kind == "choice" else self.args
        return f"{self.kind}({', '.join(repr(a) for a in args)})"


def _real(value: Any, what: str, call: str) -> int | float:
    """Check a finite real number; numpy scalars become Python ones."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{call}: {what} must be a number, got {value!r}.")
    out: int | float = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not math.isfinite(out):
        raise UsageError(f"{call}: {what} must be finite, got {value!r}.")
    return out


def _option(value: Any) -> OptionValue:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Real):
        return _real(value, "each option", "choice()")
    raise UsageError(
        f"choice(): option {value!r} of type {type(value).__name__} is not allowed; "
        "options must be numbers, strings, booleans or None."
    )


def _checked(kind: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Validate and normalise one kind's arguments."""
    call = f"{kind}({', '.join(repr(a) for a in args)})"
    if kind == "choice":
        opts = args[0]
        if isinstance(opts, (str, bytes, Mapping, set, frozenset)) or not isinstance(
            opts, Iterable
        ):
            raise UsageError("choice(): options must be a list, e.g. choice([16, 32, 64]).")
        options = tuple(_option(o) for o in opts)
        if not options:
            raise UsageError("choice() needs at least one option, e.g. choice(16, 32, 64).")
        return (options,)
    if kind == "randint":
        upper = args[0]
        if isinstance(upper, bool) or not isinstance(upper, numbers.Integral) or upper < 1:
            raise UsageError(
                f"{call}: upper must be an integer of at least 1 (values are 0..upper-1), "
                "e.g. randint(10) for 0..9."
            )
        return (int(upper),)
    names = ARGUMENTS[kind]
    out = [_real(a, name, call) for a, name in zip(args, names)]
    if kind.endswith("uniform"):
        if not out[0] < out[1]:
            raise UsageError(
                f"{call}: min_value must be less than max_value; swap them or widen the range."
            )
        if "log" in kind and out[1] > _MAX_EXPONENT:
            raise UsageError(
                f"{call}: the bounds are exponents (values lie in [exp(min_value), "
                f"exp(max_value)]) and exp({out[1]!r}) overflows; for values up to 1000 "
                f"write max_value=math.log(1000)."
            )
    for i in range(1 if kind.endswith("normal") else 2, len(out)):  # sigma and q
        if out[i] <= 0:
            raise UsageError(f"{call}: {names[i]} must be greater than 0, got {out[i]!r}.")
    return tuple(out)


def choice(*options: Any) -> ParameterExpression:
    """Pick among discrete options: ``choice(1, 2, 3)``, ``choice([1, 2])``, ``choice(range(4))``.

    Args:
        *options: The options, or one list, tuple, range or other ordered iterable of them.

    Returns:
        The expression; each option is equally likely.

    Raises:
        UsageError: With no option, or an option that is not a number, string, bool or None.
    """
    if len(options) == 1 and not isinstance(options[0], (str, bytes)):
        only = options[0]
        if isinstance(only, (set, frozenset, Mapping)):
            raise UsageError("choice(): pass a list, not a set or dict, so the order is stable.")
        if isinstance(only, Iterable):
            options = tuple(only)
    return ParameterExpression("choice", (tuple(options),))


def randint(upper: int) -> ParameterExpression:
    """An integer in ``0..upper-1`` (v1: for unordered values; use ``quniform`` for ordered).

    Raises:
        UsageError: If ``upper`` is not an integer of at least 1.
    """
    return ParameterExpression("randint", (upper,))


def uniform(min_value: float, max_value: float) -> ParameterExpression:
    """A real number uniformly in ``[min_value, max_value]``.

    Raises:
        UsageError: Unless both are finite numbers and ``min_value < max_value``.
    """
    return ParameterExpression("uniform", (min_value, max_value))


def quniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    """``round(uniform(min_value, max_value) / q) * q``.

    Raises:
        UsageError: For bad bounds (as :func:`uniform`) or ``q <= 0``.
    """
    return ParameterExpression("quniform", (min_value, max_value, q))


def loguniform(min_value: float, max_value: float) -> ParameterExpression:
    """``exp(uniform(min_value, max_value))``: the bounds are exponents, as in v1.

    ``loguniform(math.log(1e-4), math.log(0.1))`` gives learning rates from 1e-4 to 0.1.

    Raises:
        UsageError: For bad bounds, or ``max_value`` so large that ``exp`` overflows.
    """
    return ParameterExpression("loguniform", (min_value, max_value))


def qloguniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    """``round(exp(uniform(min_value, max_value)) / q) * q``; the bounds are exponents.

    Raises:
        UsageError: For bad bounds (as :func:`loguniform`) or ``q <= 0``.
    """
    return ParameterExpression("qloguniform", (min_value, max_value, q))


def normal(mu: float, sigma: float) -> ParameterExpression:
    """A real number from the normal distribution of mean ``mu``, deviation ``sigma``.

    Raises:
        UsageError: Unless ``mu`` is finite and ``sigma > 0``.
    """
    return ParameterExpression("normal", (mu, sigma))


def qnormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    """``round(normal(mu, sigma) / q) * q``.

    Raises:
        UsageError: As :func:`normal`, or ``q <= 0``.
    """
    return ParameterExpression("qnormal", (mu, sigma, q))


def lognormal(mu: float, sigma: float) -> ParameterExpression:
    """``exp(normal(mu, sigma))``: positive, its logarithm normally distributed.

    Raises:
        UsageError: As :func:`normal`.
    """
    return ParameterExpression("lognormal", (mu, sigma))


def qlognormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    """``round(exp(normal(mu, sigma)) / q) * q``.

    Raises:
        UsageError: As :func:`normal`, or ``q <= 0``.
    """
    return ParameterExpression("qlognormal", (mu, sigma, q))


def expression_from_dict(data: Mapping[str, Any]) -> ParameterExpression:
    """Rebuild an expression from :meth:`ParameterExpression.to_dict`'s form.

    Raises:
        UsageError: For an unknown kind, missing or extra arguments, or invalid values.
    """
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in ARGUMENTS:
        raise UsageError(
            f"unknown parameter expression {data!r}; expected a dict whose 'kind' is one "
            f"of {', '.join(ARGUMENTS)}."
        )
    names = ARGUMENTS[kind]
    if set(data) - {"kind"} != set(names):
        raise UsageError(f"a stored {kind} needs exactly the keys {list(names)}, got {data!r}.")
    return ParameterExpression(kind, tuple(data[n] for n in names))


def validate_space(parameter_space: Any) -> dict[str, ParameterExpression]:
    """Check a parameter space and return a copy in the given order.

    Args:
        parameter_space: ``{name: expression}``; each name is kept exactly as given
            (``"--alpha"`` or ``"alpha"``).

    Returns:
        A new dict with the same names and expressions.

    Raises:
        UsageError: If it is not a non-empty mapping of non-empty strings to expressions.
    """
    if not isinstance(parameter_space, Mapping) or not parameter_space:
        raise UsageError(
            "parameter_space must be a non-empty dict of names to expressions, "
            "e.g. {'--lr': uniform(0.01, 0.1), '--batch': choice(16, 32)}."
        )
    for name, expr in parameter_space.items():
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"parameter name {name!r} must be a non-empty string.")
        if not isinstance(expr, ParameterExpression):
            raise UsageError(
                f"parameter {name!r} is {expr!r}; wrap it in an expression such as "
                f"choice({expr!r}) or uniform(low, high)."
            )
    return dict(parameter_space)


def space_to_dict(parameter_space: Mapping[str, ParameterExpression]) -> dict[str, Any]:
    """Return ``{name: expression.to_dict()}`` for a space, in its order."""
    return {name: expr.to_dict() for name, expr in validate_space(parameter_space).items()}


def space_from_dict(data: Mapping[str, Any]) -> dict[str, ParameterExpression]:
    """Rebuild a space from :func:`space_to_dict`'s form.

    Raises:
        UsageError: If it is not a non-empty mapping of names to expression dicts.
    """
    if not isinstance(data, Mapping):
        raise UsageError(f"a stored parameter space must be a dict, got {data!r}.")
    return validate_space({name: expression_from_dict(d) for name, d in data.items()})


def sample_space(
    parameter_space: Mapping[str, ParameterExpression], rng: random.Random
) -> dict[str, Any]:
    """Draw one value per parameter, in the space's order.

    Args:
        parameter_space: A validated space.
        rng: The source of randomness.

    Returns:
        ``{name: value}``.
    """
    return {name: expr.sample(rng) for name, expr in parameter_space.items()}
