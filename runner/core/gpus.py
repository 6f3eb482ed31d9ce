"""GPU slots as a pure decision: which GPU ids a run gets, given who holds what.

A run asks for ``gpu`` GPUs in its resources: a whole number (1, 2, ...) gets that many
GPUs of its own, which no other run is given while it holds them; a fraction (0.5) asks
to *share* one GPU with other fractional runs, as long as their fractions add up to at
most 1 (Ray's meaning). The store calls :func:`assign` inside the transaction that moves a
queued run to Preparing, so two runs can never be handed the same GPU. No I/O.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from .errors import UsageError

_EPS = 1e-9


def requested(resources: dict[str, Any] | None) -> float:
    """The GPUs ``resources`` ask for (0 when none)."""
    value = (resources or {}).get("gpu") or 0
    return float(value)


def check_amount(amount: Any) -> float:
    """A valid GPU request: 0, a whole number, or a fraction below 1 (a shared GPU).

    Raises:
        UsageError: for anything else (1.5 GPUs, a negative number, a string).
    """
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or amount < 0 \
            or not math.isfinite(amount):
        raise UsageError(f"a run's gpu count must be a number >= 0, not {amount!r}.")
    if amount > 1 and amount != int(amount):
        raise UsageError(
            f"a run asks for {amount!r} GPUs; ask for a whole number of GPUs, or for a "
            "fraction below 1 to share one GPU with other runs.")
    return float(amount)


def needed(amount: float) -> int:
    """How many distinct GPUs a request occupies."""
    return math.ceil(amount - _EPS) if amount > 0 else 0


def assign(machine: Sequence[str], holders: Sequence[tuple[Sequence[str], float]],
           amount: float) -> list[str] | None:
    """The GPU ids to give a run asking for ``amount``, or None when they are not free.

    Args:
        machine: the machine's GPU ids, in order.
        holders: ``(ids, amount)`` of every run that holds GPUs now.
        amount: what the run asks for (see the module docstring).

    Returns:
        ``[]`` for no GPUs; the lowest free ids for a whole number; for a fraction, the
        fullest shared GPU it still fits on, else the lowest free one.
    """
    if amount <= 0:
        return []
    load = {gpu: 0.0 for gpu in machine}
    exclusive: set[str] = set()
    for ids, held in holders:
        for gpu in ids:
            if gpu not in load:
                continue  # a GPU no longer listed: ignore it
            if held >= 1 - _EPS:
                exclusive.add(gpu)
                load[gpu] = 1.0
            else:
                load[gpu] += held
    if amount >= 1 - _EPS:
        free = [gpu for gpu in machine if load[gpu] <= _EPS]
        count = needed(amount)
        return free[:count] if len(free) >= count else None
    fits = [gpu for gpu in machine
            if gpu not in exclusive and load[gpu] + amount <= 1 + _EPS]
    if not fits:
        return None
    shared = [gpu for gpu in fits if load[gpu] > _EPS]
    if shared:
        return [max(shared, key=lambda g: load[g])]
    return [fits[0]]
