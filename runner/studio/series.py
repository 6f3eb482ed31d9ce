"""A scalar metric as chart points: the logged step (or time) as x, only the chunks needed.

Why it exists: ``run.log("m", v, step=s)`` keeps each value's step, and a chart must put
the value at that step, not at its position; comparing runs that evaluate every 100 steps
with runs that evaluate every 10 is only right on the logged axis. And a million-point
metric must not be read in full for every request: the chunks' layout (count, steps,
write time) is read first, without their data, and then only the chunks whose x range
meets the requested one (a zoom), a few at a time into one ``array('d')``.

Memory is bounded: a series is read a few chunks (of 65,536 values) at a time, each
bucket's minimum and maximum kept as it goes (the "min/max per pixel column" of
:mod:`._downsample`, across chunk edges), so a request holds a few chunks and its answer,
never the whole metric; and at most :data:`CONCURRENT` long series are read at once (the
others wait their turn), so eight concurrent 20,000-point requests of a 1M-point metric
cost about what one does, while small requests (status, log, short series) never wait
for them. (Thinning is Python work under the GIL: two threads at it would not finish
sooner, they would only slow every other request down.)

x axes:

* ``step``: the logged step where there is one, else the value's 0-based position;
* ``time``: when the value's chunk was written (epoch seconds; values flushed together
  share it, as nothing finer is recorded);
* ``relative``: ``time`` less the run's start (or the first write).
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import NotFoundError, UsageError
from . import downsample as _downsample

if TYPE_CHECKING:
    from ..api.workspace import Workspace

AXES = ("step", "time", "relative")
#: Long series read at the same time; more requests wait (bounded memory, and one
#: thread at most busy thinning, so small requests still get the interpreter).
CONCURRENT = 1
#: A series longer than this waits its turn; shorter ones are read at once.
LONG = 100_000
#: Chunks whose data is read per query.
BATCH = 4

_turns = threading.BoundedSemaphore(CONCURRENT)


def _bound(raw: str | float | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, not {raw!r}.") from None
    if math.isnan(value):
        raise UsageError(f"{name} must be a number, not NaN.")
    return value


def scalar_series(ws: Workspace, run_id: str, name: str, points: int, *,
                  axis: str = "step", x_min: str | float | None = None,
                  x_max: str | float | None = None, origin: float | None = None
                  ) -> dict[str, Any]:
    """A scalar metric as ``{"x", "y", "count", "downsampled", "axis", "stepped"}``.

    Args:
        points: about how many points to return (min/max per bucket, spikes kept).
        axis: one of :data:`AXES`.
        x_min, x_max: only values whose x lies in this range (a zoom), at full
            resolution when they fit in ``points``.
        origin: the time ``relative`` counts from (the run's start).

    Raises:
        UsageError: an unknown axis, a bad bound, or ``points`` out of range.
        NotFoundError: no such metric.
    """
    if axis not in AXES:
        raise UsageError(f"axis must be one of {', '.join(AXES)}, not {axis!r}.")
    if not 2 <= points <= _downsample.MAX_POINTS:
        raise UsageError(f"points must be 2 to {_downsample.MAX_POINTS}, not {points}.")
    low, high = _bound(x_min, "x_min"), _bound(x_max, "x_max")
    layout = ws.store.series_chunks(run_id, name)
    if layout is None:
        raise NotFoundError(f"run {run_id} has no metric {name!r}.", run_id=run_id, name=name)
    kind, chunks = layout
    if kind != _metrics.SCALAR:
        raise UsageError(f"metric {name!r} is a {kind}; this reads scalar series only.")
    if axis == "relative" and origin is None:
        origin = chunks[0][4] if chunks else 0.0
    if sum(chunk[1] for chunk in chunks) <= LONG:
        return _read(ws, run_id, name, chunks, points, axis, low, high, origin or 0.0)
    with _turns:
        return _read(ws, run_id, name, chunks, points, axis, low, high, origin or 0.0)


def _read(ws: Workspace, run_id: str, name: str, chunks: list, points: int, axis: str,
          low: float | None, high: float | None, origin: float) -> dict[str, Any]:
    # 1. Plan from the layout alone: which values of which chunks lie in the range.
    plan: list[tuple[int, str, Any, Any]] = []  # (seq, enc, picks, x of the picked)
    position = 0
    stepped = False
    for seq, n, enc, steps, at, *_ in chunks:
        x = _chunk_x(axis, steps, at, position, n, origin)
        position += n
        stepped = stepped or steps is not None
        picks, x = _clip(x, n, low, high)
        if len(x):
            plan.append((seq, enc, picks, x))
    total = sum(len(p[3]) for p in plan)
    # 2. Buckets of consecutive values; each keeps its minimum and maximum (spikes
    #    survive). Chunks are read a few at a time and dropped once their buckets are done.
    buckets = max(1, points // 2) if total > points else total
    x_out: list[Any] = []
    y_out: list[Any] = []
    pending: list[tuple[int, Any, Any]] = []  # candidates of the bucket under way
    bucket = 0
    g = 0  # values seen so far
    for i in range(0, len(plan), BATCH):
        part = plan[i : i + BATCH]
        data = ws.store.chunk_data(run_id, name, [p[0] for p in part])
        for (_seq, enc, picks, x), (_, blob) in zip(part, data):
            values = _metrics.unpack(enc, blob)
            if isinstance(picks, slice):
                if picks != slice(0, len(values)):
                    values = values[picks]
            else:
                values = [values[k] for k in picks]
            end = g + len(values)
            if total <= points:  # nothing to thin: every value in the range
                x_out.extend(x)
                y_out.extend(map(_downsample.drawable, values))
                g = end
                continue
            while bucket < buckets:
                lo, hi = total * bucket // buckets, total * (bucket + 1) // buckets
                start, stop = max(lo, g) - g, min(hi, end) - g
                if not pending and lo >= g and hi <= end:
                    # The common case: the bucket lies inside this chunk.
                    found = sorted(set(_downsample._extremes(values, start, stop)))
                    if not found:
                        x_out.append(x[start])
                        y_out.append(None)
                    for k in found:
                        x_out.append(x[k])
                        y_out.append(_downsample.drawable(values[k]))
                    bucket += 1
                    continue
                if start < stop:
                    pending.extend((g + k, values[k], x[k]) for k in
                                   _downsample._extremes(values, start, stop))
                if hi > end:
                    break  # the bucket goes on in the next chunk
                _settle(pending, x_out, y_out)
                pending = []
                bucket += 1
            g = end
    if axis == "step" and stepped and not _ascending(x_out):
        order = sorted(range(len(x_out)), key=lambda k: x_out[k])
        x_out = [x_out[k] for k in order]
        y_out = [y_out[k] for k in order]
    return {"x": x_out, "y": y_out, "count": total, "downsampled": total > points,
            "axis": axis, "stepped": stepped, "x_name": _x_name(axis, stepped),
            "origin": origin if axis == "relative" else None}


def _settle(found: list[tuple[int, Any, Any]], x_out: list[Any], y_out: list[Any]) -> None:
    """Append a bucket that spanned chunks: the extremes of its pieces' extremes."""
    drawn = [(index, _downsample.drawable(value), x) for index, value, x in found]
    numbers = [item for item in drawn if item[1] is not None]
    if not numbers:
        if found:
            x_out.append(found[0][2])
            y_out.append(None)
        return
    low = min(numbers, key=lambda item: item[1])
    high = max(numbers, key=lambda item: item[1])
    for _, y, x in sorted({low, high}, key=lambda item: item[0]):
        x_out.append(x)
        y_out.append(y)


def _chunk_x(axis: str, steps: list[Any] | None, at: float, first: int, n: int,
             origin: float) -> Any:
    """The x of a chunk's values: a range of positions, its logged steps, or one time."""
    if axis == "step":
        if steps is None:
            return range(first, first + n)
        return [s if isinstance(s, (int, float)) else first + k for k, s in enumerate(steps)]
    return [at - origin if axis == "relative" else at] * n


def _clip(x: Any, n: int, low: float | None, high: float | None) -> tuple[Any, Any]:
    """Which of a chunk's values have x in [low, high] (a slice or indices), and their x."""
    if low is None and high is None:
        return slice(0, n), x
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    if isinstance(x, range):
        start = min(n, max(0, math.ceil(lo) - x.start)) if lo > x.start else 0
        stop = max(0, min(n, math.floor(hi) - x.start + 1)) if hi < x.stop else n
        stop = max(start, stop)
        return slice(start, stop), x[start:stop]
    picked = [k for k, s in enumerate(x) if lo <= s <= hi]
    if len(picked) == n:
        return slice(0, n), x
    return picked, [x[k] for k in picked]


def _ascending(values: list[Any]) -> bool:
    return all(a <= b for a, b in zip(values, values[1:]))


def _x_name(axis: str, stepped: bool) -> str:
    if axis == "step":
        return "step" if stepped else "index"
    return "wall time" if axis == "time" else "seconds since start"


def csv_rows(ws: Workspace, run_id: str, name: str) -> Any:
    """Every value of a scalar metric as CSV text pieces: ``step,value,time`` lines.

    The metric is checked at the call (NotFoundError, UsageError for a table or an
    image); its chunks are then read a few at a time as the text is sent.
    """
    layout = ws.store.series_chunks(run_id, name)
    if layout is None:
        raise NotFoundError(f"run {run_id} has no metric {name!r}.", run_id=run_id, name=name)
    kind, chunks = layout
    if kind != _metrics.SCALAR:
        raise UsageError(f"metric {name!r} is a {kind}; only scalar series download as CSV.")

    def rows() -> Any:
        yield "step,value,time\n"
        position = 0
        for i in range(0, len(chunks), BATCH):
            part = chunks[i : i + BATCH]
            data = ws.store.chunk_data(run_id, name, [c[0] for c in part])
            for (_seq, n, enc, steps, at, *_), (_, blob) in zip(part, data):
                values = _metrics.unpack(enc, blob)
                x = _chunk_x("step", steps, at, position, n, 0.0)
                position += n
                yield "".join(f"{x[k]},{_csv_value(values[k])},{at:.3f}\n" for k in range(n))
    return rows()


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                        ("inf" if value > 0 else "-inf"))
    if value is None:
        return ""
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text
