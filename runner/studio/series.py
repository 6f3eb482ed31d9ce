"""A scalar metric as chart points: the logged step (or time) as x, only the chunks needed.

Why it exists: ``run.log("m", v, step=s)`` keeps each value's step, and a chart must put
the value at that step, not at its position; comparing runs that evaluate every 100 steps
with runs that evaluate every 10 is only right on the logged axis. And a million-point
metric must not be read in full for every request: the chunks' layout (count, steps,
write time) is read first, without their data, and then only the chunks whose x range
meets the requested one (a zoom), a few at a time into one ``array('d')``.

Memory is bounded: at most :data:`CONCURRENT` series are read at once (the others wait
their turn), each holding its values as 8-byte doubles, so eight concurrent 20,000-point
requests of a 1M-point metric cost about what two do, while small requests (status, log)
never wait for them.

x axes:

* ``step``: the logged step where there is one, else the value's 0-based position;
* ``time``: when the value's chunk was written (epoch seconds; values flushed together
  share it, as nothing finer is recorded);
* ``relative``: ``time`` less the run's start (or the first write).
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import NotFoundError, UsageError
from . import downsample as _downsample

if TYPE_CHECKING:
    from ..api.workspace import Workspace

AXES = ("step", "time", "relative")
#: Series read at the same time; more requests wait (bounded memory).
CONCURRENT = 2
#: Chunks whose data is read per query.
BATCH = 8

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
    with _turns:
        return _read(ws, run_id, name, chunks, points, axis, low, high, origin or 0.0)


def _read(ws: Workspace, run_id: str, name: str, chunks: list, points: int, axis: str,
          low: float | None, high: float | None, origin: float) -> dict[str, Any]:
    # Plan: for each chunk, the positions it holds and their x (lazily).
    wanted: list[tuple[int, int, str, list[Any] | None, float, int]] = []
    position = 0
    stepped = False
    for seq, n, enc, steps, at in chunks:
        first = position
        position += n
        stepped = stepped or steps is not None
        if axis == "step":
            if steps is not None:
                numbers = [s for s in steps if isinstance(s, (int, float))]
                lo, hi = (min(numbers), max(numbers)) if numbers else (first, first + n - 1)
            else:
                lo, hi = first, first + n - 1
        else:
            lo = hi = at - origin if axis == "relative" else at
        if (low is not None and hi < low) or (high is not None and lo > high):
            continue
        wanted.append((seq, n, enc, steps, at, first))
    numeric = all(w[2] in ("d", "q") for w in wanted)
    values: Any = array("d") if numeric else []
    xs: list[Any] = []  # per kept chunk: a range, a list of steps or a constant
    starts: list[int] = []
    for i in range(0, len(wanted), BATCH):
        part = wanted[i : i + BATCH]
        data = ws.store.chunk_data(run_id, name, [w[0] for w in part])
        for (_seq, n, enc, steps, at, first), (_, blob) in zip(part, data):
            chunk = _values(enc, blob)
            x = _chunk_x(axis, steps, at, first, n, origin)
            if low is not None or high is not None:
                chunk, x = _clip(chunk, x, n, low, high)
                if not len(chunk):
                    continue
            starts.append(len(values))
            xs.append(x)
            values.extend(chunk)
    keep = _downsample.select([values], points)
    indices = range(len(values)) if keep is None else keep
    x_out = [_x_at(xs, starts, i) for i in indices]
    y_out = _downsample.gather(values, keep)
    if axis == "step" and stepped and not _ascending(x_out):
        order = sorted(range(len(x_out)), key=lambda k: x_out[k])
        x_out = [x_out[k] for k in order]
        y_out = [y_out[k] for k in order]
    return {"x": x_out, "y": y_out, "count": len(values), "downsampled": keep is not None,
            "axis": axis, "stepped": stepped, "x_name": _x_name(axis, stepped),
            "origin": origin if axis == "relative" else None}


def _values(enc: str, blob: bytes) -> Any:
    if enc == "d":
        out = array("d")
        out.frombytes(blob)
        return out
    if enc == "q":
        ints = array("q")
        ints.frombytes(blob)
        return array("d", ints)
    return _metrics.unpack(enc, blob)


def _chunk_x(axis: str, steps: list[Any] | None, at: float, first: int, n: int,
             origin: float) -> Any:
    if axis == "step":
        if steps is None:
            return range(first, first + n)
        return [s if isinstance(s, (int, float)) else first + k for k, s in enumerate(steps)]
    return at - origin if axis == "relative" else at


def _clip(chunk: Any, x: Any, n: int, low: float | None, high: float | None) -> tuple[Any, Any]:
    """The values of a chunk whose x is in [low, high], and their x."""
    if not isinstance(x, (range, list)):
        return chunk, x  # one time for the whole chunk: it was kept whole
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    if isinstance(x, range):
        start = max(0, math.ceil(lo) - x.start) if lo > x.start else 0
        stop = min(n, math.floor(hi) - x.start + 1) if hi < x.stop else n
        stop = max(start, stop)
        return chunk[start:stop], x[start:stop]
    picked = [k for k, s in enumerate(x) if lo <= s <= hi]
    kept = array("d", (chunk[k] for k in picked)) if isinstance(chunk, array) else [
        chunk[k] for k in picked]
    return kept, [x[k] for k in picked]


def _x_at(xs: list[Any], starts: list[int], index: int) -> Any:
    part = bisect_right(starts, index) - 1
    x = xs[part]
    if isinstance(x, (range, list)):
        return x[index - starts[part]]
    return x


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
                values = _values(enc, blob)
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
