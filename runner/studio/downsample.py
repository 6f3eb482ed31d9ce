"""Thinning long metric series for charts, keeping their shape.

Why it exists: a run may log a million points of one metric; a chart is a
couple of thousand pixels wide. Sending every point would make the page
unresponsive, while sending every n-th point would hide spikes. Here each
series is cut into equal buckets of consecutive points and each bucket keeps
its minimum and its maximum, in their original order (the "min/max per pixel
column" method): every extreme survives, so the drawn line looks exactly like
the full one at that width.

Pure decisions on lists, standard library only. The work per bucket is done
by C built-ins (``min``, ``max``, ``list.index`` on a slice), which is what
keeps a million points under a few tens of milliseconds without numpy. Values
that cannot be drawn (None, strings, NaN, infinities) become None (a gap);
only the buckets holding such values take the slow, per-value path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Points a series endpoint returns when the caller does not say.
DEFAULT_POINTS = 2000
#: The most points a caller may ask for.
MAX_POINTS = 20000

_NUMBER_TYPES = (int, float)


def drawable(value: Any) -> float | int | None:
    """``value`` as a number a chart can draw, or None (a gap)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return value
    if kind is bool:
        return int(value)
    return None


def is_numeric(values: Sequence[Any]) -> bool:
    """True when at least one value is drawable and no value is a string.

    Checks a sample of up to 1,000 values spread over the series, so a million
    points cost nothing; a series of strings is shown as text, not a chart.
    """
    n = len(values)
    if n == 0:
        return False
    step = max(1, n // 1000)
    sample = values[::step]
    if any(isinstance(v, str) for v in sample):
        return False
    return any(drawable(v) is not None for v in sample) or any(
        drawable(v) is not None for v in values)


def select(columns: Sequence[Sequence[Any]], points: int) -> list[int] | None:
    """Indices of the rows to keep so that ``columns`` fit in about ``points`` rows.

    Every column is cut into the same buckets of consecutive rows; each bucket
    keeps the rows holding each column's minimum and maximum. Returns None when
    the columns are short enough to keep whole.

    Args:
        columns: one or more series of equal length (the y values).
        points: the most rows wanted (at least 2).
    """
    if points < 2:
        raise ValueError(f"points must be at least 2, not {points}")
    n = len(columns[0]) if columns else 0
    if n <= points:
        return None
    per_bucket = 2 * len(columns)
    buckets = max(1, points // per_bucket)
    keep: list[int] = []
    for b in range(buckets):
        start = n * b // buckets
        end = n * (b + 1) // buckets
        found: set[int] = set()
        for column in columns:
            found.update(_extremes(column, start, end))
        if not found:
            found.add(start)  # nothing drawable: keep one row to show the gap
        keep.extend(sorted(found))
    return keep


def _extremes(column: Sequence[Any], start: int, end: int) -> tuple[int, ...]:
    """Absolute indices of the minimum and the maximum of ``column[start:end]``."""
    part = column[start:end]
    try:
        low = min(part)
        high = max(part)
    except TypeError:  # None or strings among numbers
        return _extremes_slow(part, start)
    if (type(low) not in _NUMBER_TYPES or type(high) not in _NUMBER_TYPES
            or not math.isfinite(low) or not math.isfinite(high)):
        # NaN first in the bucket, an infinity, or bools: decide value by value.
        return _extremes_slow(part, start)
    i_low = part.index(low)
    i_high = part.index(high)
    return (start + i_low, start + i_high) if i_low != i_high else (start + i_low,)


def _extremes_slow(part: Sequence[Any], start: int) -> tuple[int, ...]:
    best_low = best_high = None
    i_low = i_high = -1
    for i, value in enumerate(part):
        number = drawable(value)
        if number is None:
            continue
        if best_low is None or number < best_low:
            best_low, i_low = number, i
        if best_high is None or number > best_high:
            best_high, i_high = number, i
    if i_low < 0:
        return ()
    return (start + i_low, start + i_high) if i_low != i_high else (start + i_low,)


def gather(column: Sequence[Any], indices: list[int] | None) -> list[Any]:
    """The drawable values of ``column`` at ``indices`` (all of them when None)."""
    if indices is None:
        return [drawable(v) for v in column]
    return [drawable(column[i]) for i in indices]


def series(values: Sequence[Any], points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """A scalar series ready to draw: ``{"x": [...], "y": [...], "count", "downsampled"}``.

    ``x`` is the 0-based position of each value in the series.
    """
    keep = select([values], points)
    x = list(range(len(values))) if keep is None else keep
    return {"x": x, "y": gather(values, keep), "count": len(values),
            "downsampled": keep is not None}


def table_series(rows: Sequence[dict[str, Any]],
                 points: int = DEFAULT_POINTS) -> dict[str, Any]:
    """A table drawn as x-y lines: the first column is x, each numeric other column a line.

    A table with one column is drawn against the row number. A first column
    that is not numeric is shown as the row number too (and named so).
    """
    names: list[str] = []
    for row in rows:
        for name in row:
            if name not in names:
                names.append(name)
    columns = {name: [row.get(name) for row in rows] for name in names}
    x_name = names[0] if names else None
    y_names = [n for n in names[1:] if is_numeric(columns[n])]
    if x_name is None or not is_numeric(columns[x_name]) or not y_names:
        x_name, y_names = None, [n for n in names if is_numeric(columns[n])]
    ys = [columns[n] for n in y_names]
    keep = select(ys, points) if ys else None
    if x_name is None:
        x: list[Any] = list(range(len(rows))) if keep is None else keep
    else:
        x = gather(columns[x_name], keep)
    return {
        "x_name": x_name or "row",
        "x": x,
        "series": [{"name": n, "y": gather(columns[n], keep)} for n in y_names],
        "count": len(rows),
        "downsampled": keep is not None,
    }
