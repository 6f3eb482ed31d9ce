"""Which metric ranks a group of runs, which way, and its best and mean.

Why it exists: the runs list shows a parent's best and mean child, and the sweep views
draw the same metric (parallel coordinates end at it, best-so-far follows it); both must
pick it the same way. Pure decisions on plain dicts.
"""

from __future__ import annotations

import math
from typing import Any

from ..core import metrics as _metrics

#: Metric names (lower case, in part) where larger is better, for a parent's "best".
_HIGHER_IS_BETTER = ("acc", "auc", "f1", "precision", "recall", "r2", "score", "map",
                     "iou", "bleu", "reward")


def settings(row: dict[str, Any] | None, properties: dict[str, Any]) -> dict[str, Any]:
    """A parent's ranking settings: a HyperDrive run's ``primaryMetricName`` and
    ``primaryMetricGoal`` (from its definition) over its ``primary_metric_*`` properties."""
    out = dict(properties)
    hyperdrive = ((row or {}).get("definition") or {}).get("hyperdrive") or {}
    if hyperdrive.get("primaryMetricName"):
        out["primary_metric_name"] = hyperdrive["primaryMetricName"]
    if hyperdrive.get("primaryMetricGoal"):
        out["primary_metric_goal"] = str(hyperdrive["primaryMetricGoal"])
    return out


def primary_goal(name: str, properties: dict[str, Any] | None = None) -> str:
    """``"max"`` or ``"min"``: what "best" means for a metric.

    A run's ``primary_metric_goal`` property (HyperDrive records one) decides; without
    it, names such as accuracy, auc, f1, score are maximised and the rest minimised.
    """
    goal = str((properties or {}).get("primary_metric_goal") or "").lower()
    if goal.startswith("max"):
        return "max"
    if goal.startswith("min"):
        return "min"
    lowered = name.lower()
    return "max" if any(word in lowered for word in _HIGHER_IS_BETTER) else "min"


def primary_metric(properties: dict[str, Any], children: list[dict[str, Any]]) -> str | None:
    """The metric that ranks a parent's children: its ``primary_metric_name`` property, or
    the first numeric metric (by name) its children share most."""
    named = properties.get("primary_metric_name") or properties.get("primary_metric")
    if named:
        return str(named)
    counts: dict[str, int] = {}
    for child in children:
        for name, value in (child.get("metrics") or {}).items():
            if _metrics.is_number(value):
                counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    return sorted(counts, key=lambda n: (-counts[n], n))[0]


def aggregate(children: list[dict[str, Any]], name: str, goal: str) -> dict[str, Any]:
    """Best and mean of a metric over child runs (finite numbers only)."""
    numbers = [c["metrics"][name] for c in children
               if _metrics.is_number((c.get("metrics") or {}).get(name))
               and math.isfinite(c["metrics"][name])]
    if not numbers:
        return {"metric": name, "goal": goal, "best": None, "mean": None, "count": 0}
    best = max(numbers) if goal == "max" else min(numbers)
    return {"metric": name, "goal": goal, "best": best, "mean": sum(numbers) / len(numbers),
            "count": len(numbers)}
