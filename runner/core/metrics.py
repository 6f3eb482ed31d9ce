"""What a metric value may be, how values are packed, and the shapes
``get_metrics()`` returns.

Pure decisions and packing only; the store writes the packed chunks.

Values are kept in chunks rather than one row per point: a run of floats is an
``array('d')`` blob, a run of 64-bit ints an ``array('q')`` blob, anything else a
JSON list. That is what lets ``run.log`` sustain millions of calls a second and
``get_metrics`` read a million points in milliseconds.
"""

from __future__ import annotations

import json
import threading
import types
import warnings
from array import array
from typing import Any

from .errors import MetricError

SCALAR = "scalar"
TABLE = "table"
IMAGE = "image"

#: Values per stored chunk.
CHUNK = 65536

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
#: Bits of the largest int a metric may hold. Ints beyond 64 bits are stored as JSON
#: text, and Python converts ints to text only up to 4,300 digits
#: (``sys.get_int_max_str_digits``); 14,000 bits is about 4,215 digits.
_INT_BITS = 14_000


def check_text(text: str, what: str, name: Any = None) -> str:
    """``text`` if it can be stored as UTF-8; a MetricError naming it otherwise.

    A lone surrogate (``"\\ud800"``) is a valid Python string that no UTF-8 file
    or SQLite text can hold: accepted, it would fail every later write.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MetricError(
            f"{what} {text!r} holds {text[exc.start]!r} at index {exc.start}, a lone "
            "surrogate that cannot be stored as UTF-8; remove it (or decode the bytes "
            "it came from properly).",
            metric=name if name is not None else text,
        ) from None
    return text


def check_name(name: Any, where: str = "log") -> str:
    """A metric name: a non-empty string storable as UTF-8, or a MetricError."""
    if not isinstance(name, str) or not name:
        raise MetricError(f"{where}(): metric name must be a non-empty string, not {name!r}.")
    return check_text(name, "metric name")


def check_step(name: str, step: Any) -> int | None:
    """A ``step=``: None or an int, or a MetricError."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int):
        raise MetricError(f"log({name!r}, step=...) must be an int, not {step!r}.", metric=name)
    return _check_int(name, int(step), "log")


def _check_int(name: str, value: int, where: str) -> int:
    if value.bit_length() <= _INT_BITS:
        return value
    raise MetricError(
        f"{where}({name!r}, ...): an int of {value.bit_length():,} bits is too large to "
        f"store (at most {_INT_BITS:,} bits, about 4,200 digits); log float(value) or a "
        "shorter str instead.",
        metric=name,
    )


def normalize_value(name: str, value: Any, *, where: str = "log") -> Any:
    """Turn a logged value into one the store keeps, or raise.

    int, float (NaN/inf kept), str, bool and None are kept; numpy scalars
    become the matching Python number; a list, range or generator is an error
    pointing to ``log_list``; any other object is kept as its ``repr()`` with a
    warning, as Azure ML did. Values the store could not write are refused here,
    at the call, with a MetricError: ints beyond 64 bits and strings holding lone
    surrogates.
    """
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is int:
        return _check_int(name, value, where)
    if kind is str:
        return check_text(value, f"{where}({name!r}) value", name)
    if isinstance(value, (list, range, types.GeneratorType)) or kind is types.FunctionType:
        raise MetricError(
            f"{where}({name!r}, ...) got a {kind.__name__}; log one value at a time, "
            f"or use run.log_list({name!r}, values) for a list of values.",
            metric=name,
        )
    converted = _numpy_scalar(value)
    if converted is not _NOT_NUMPY:
        return normalize_value(name, converted, where=where)
    for base in (bool, int, float, str):  # subclasses such as IntEnum or str enums
        if isinstance(value, base):
            return normalize_value(name, base(value), where=where)
    warnings.warn(
        f"Converted value of metric {name!r} of type {kind.__name__} to its repr()",
        stacklevel=3,
    )
    return repr(value)


_NOT_NUMPY = object()


def _numpy_scalar(value: Any) -> Any:
    module = type(value).__module__
    if module != "numpy" or not hasattr(value, "item"):
        return _NOT_NUMPY
    if getattr(value, "shape", None) not in ((), None):
        return _NOT_NUMPY
    item = value.item()
    return item if isinstance(item, (bool, int, float, str)) else _NOT_NUMPY


def normalize_row_value(name: str, column: str, value: Any) -> Any:
    """A table cell: a scalar as for ``log``; lists and dicts are errors."""
    if isinstance(value, (list, tuple, dict, set, range, types.GeneratorType)):
        raise MetricError(
            f"Rows cannot contain list values: column {column!r} of {name!r} got a "
            f"{type(value).__name__}. Log one row per call, or use log_table({name!r}, "
            "{column: [values...]}).",
            metric=name,
        )
    check_text(column, f"log_row({name!r}) column", name)
    return normalize_value(name, value, where="log_row")


def table_rows(name: str, value: Any) -> list[dict[str, Any]]:
    """Turn ``log_table``'s ``{column: [values]}`` (or scalars) into rows.

    Raises:
        MetricError: not a dict, empty, or columns of different lengths.
    """
    if not isinstance(value, dict) or not value:
        raise MetricError(
            f"log_table({name!r}, value) needs a non-empty dict of column -> list of values.",
            metric=name,
        )
    columns: dict[str, list[Any]] = {}
    for column, cells in value.items():
        if not isinstance(cells, (list, tuple, range, str)) and hasattr(cells, "tolist") \
                and getattr(cells, "ndim", 1) == 1:
            cells = cells.tolist()  # a numpy array or a pandas Series: one column
        if isinstance(cells, (list, tuple, range)):
            columns[str(column)] = list(cells)
        else:
            columns[str(column)] = [cells]
    lengths = {col: len(cells) for col, cells in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{col}={n}" for col, n in lengths.items())
        raise MetricError(
            f"Columns must have the same length, but log_table({name!r}) got: {shown}.",
            metric=name,
        )
    count = next(iter(lengths.values()))
    return [
        {col: normalize_row_value(name, col, cells[i]) for col, cells in columns.items()}
        for i in range(count)
    ]


# --------------------------------------------------------------------------- packing


def pack(values: list[Any]) -> list[tuple[str, bytes, int]]:
    """Pack values into ``(encoding, data, count)`` chunks, keeping their order."""
    chunks: list[tuple[str, bytes, int]] = []
    start = 0
    n = len(values)
    while start < n:
        enc = _encoding(values[start])
        end = start + 1
        limit = min(n, start + CHUNK)
        while end < limit and _encoding(values[end]) == enc:
            end += 1
        part = values[start:end]
        if enc == "d":
            data = array("d", part).tobytes()
        elif enc == "q":
            data = array("q", part).tobytes()
        else:
            data = json.dumps(part, allow_nan=True).encode()
        chunks.append((enc, data, len(part)))
        start = end
    return chunks


def pack_floats(values: array) -> list[tuple[str, bytes, int]]:
    """Pack an ``array('d')`` into chunks without going through Python floats."""
    return [
        ("d", values[i : i + CHUNK].tobytes(), min(CHUNK, len(values) - i))
        for i in range(0, len(values), CHUNK)
    ]


def _encoding(value: Any) -> str:
    kind = type(value)
    if kind is float:
        return "d"
    if kind is int and _INT64_MIN <= value <= _INT64_MAX:
        return "q"
    return "j"


def unpack(enc: str, data: bytes) -> list[Any]:
    """The values of one chunk, in order."""
    if enc == "d":
        values = array("d")
        values.frombytes(data)
        return values.tolist()
    if enc == "q":
        values = array("q")
        values.frombytes(data)
        return values.tolist()
    return json.loads(data)


class Merged:
    """Drained lists merged into one, in order: each name once, its values in order.

    A drained entry is ``(name, kind, values, steps, floats)``: ``values`` (with
    ``steps``, or None when no value had one) come first, then the trailing
    ``floats`` (an ``array('d')`` or None). Names keep the order of their first
    appearance. The entries added are taken over (extended in place), not copied.
    """

    def __init__(self) -> None:
        # A name seen once keeps its drained tuple (nothing new for the garbage
        # collector to walk: a drain of 100,000 names makes no object per name here);
        # a name seen again gets a ``[kind, values, steps, floats]`` list.
        self.entries: dict[str, tuple | list[Any]] = {}
        self.values = 0

    def add(self, drained: list[tuple]) -> None:
        """Append every entry of ``drained``."""
        entries = self.entries
        count = 0
        for item in drained:
            name, _kind, values, steps, floats = item
            count += len(values) + (len(floats) if floats is not None else 0)
            entry = entries.get(name)
            if entry is None:
                entries[name] = item
                continue
            if type(entry) is tuple:
                entry = entries[name] = list(entry[1:])
            _append(entry, values, steps, floats)
        self.values += count

    def drained(self) -> list[tuple]:
        """The merged entries, as a drained list."""
        return [entry if type(entry) is tuple else (name, *entry)
                for name, entry in self.entries.items()]


def _append(entry: list[Any], values: list[Any], steps: list[Any] | None,
            floats: array | None) -> None:
    """Append one drained entry's values to ``entry`` (``[kind, values, steps, floats]``)."""
    if values:
        if type(entry[1]) is not list:
            entry[1] = list(entry[1])  # a drained entry's empty ()
        held = entry[3]
        if held is not None and len(held):
            # Values follow the held trailing floats: they become plain values first.
            if entry[2] is not None:
                entry[2].extend([None] * len(held))
            entry[1].extend(held.tolist())
        entry[3] = None
        if steps is not None or entry[2] is not None:
            if entry[2] is None:
                entry[2] = [None] * len(entry[1])
            entry[2].extend(steps if steps is not None else [None] * len(values))
        entry[1].extend(values)
    if floats is not None and len(floats):
        if entry[3] is None:
            entry[3] = floats
        else:
            entry[3].extend(floats)


# --------------------------------------------------------------------------- shapes


def shape(kind: str, values: list[Any]) -> Any:
    """Collapse stored values into what ``get_metrics()`` shows for one metric.

    One value is bare, several a list in order; a table is ``{column: [...]}``,
    and a table of one row ``{column: value}``. Every column has one cell per
    row: a row that lacks a column (``log_row`` with other keywords) has None
    there, in the column's place.
    """
    if kind == TABLE:
        columns: dict[str, list[Any]] = {}
        for row in values:
            for col in row:
                columns.setdefault(col, [])
        for row in values:
            for col, cells in columns.items():
                cells.append(row.get(col))
        if len(values) == 1:
            return {col: cells[0] for col, cells in columns.items()}
        return columns
    if len(values) == 1:
        return values[0]
    return values


def is_number(value: Any) -> bool:
    """True for ints and finite or non-finite floats, not bools."""
    return type(value) in (int, float)


# --------------------------------------------------------------------------- buffer


class MetricBuffer:
    """Values logged in this process and not yet written, in logged order.

    ``add_float`` is the hot path: an append to an ``array('d')`` with no lock.
    Everything else goes through ``add`` under the lock. ``drain`` (called by the
    flusher thread) takes what is there under the same lock, so the order of
    values of one metric is kept whichever path logged them.
    """

    def __init__(self) -> None:
        self.fast: dict[str, array] = {}
        self.kinds: dict[str, str] = {}
        self.pending: dict[str, list[tuple[Any, int | None]]] = {}
        self.lock = threading.Lock()

    def add(self, name: str, kind: str, value: Any, step: int | None = None) -> None:
        """Queue one value (or table row) of metric ``name``."""
        with self.lock:
            known = self.kinds.get(name)
            if known is None:
                self.kinds[name] = kind
            elif known != kind:
                raise MetricError(
                    f"Metric {name!r} was logged as a {known} and cannot take a {kind} "
                    "value; use another name.",
                    metric=name,
                )
            queue = self.pending.get(name)
            if queue is None:
                queue = self.pending[name] = []
            fast = self.fast.get(name)
            if fast is not None and len(fast):
                n = len(fast)
                queue.extend((v, None) for v in fast[:n])
                del fast[:n]
            queue.append((value, step))
            if kind == SCALAR and fast is None:
                self.fast[name] = array("d")

    def drain(self) -> list[tuple[str, str, list[Any], list[int | None] | None, array | None]]:
        """Take everything queued: ``(name, kind, values, steps, trailing floats)``.

        ``values`` is a list, or ``()`` for a name that only has trailing floats.
        """
        out = []
        with self.lock:
            pending, self.pending = self.pending, {}
            fast_queues = self.fast
            for name, items in pending.items():
                fast = fast_queues.get(name)
                floats = None
                if fast is not None and len(fast):
                    n = len(fast)
                    floats = fast[:n]
                    del fast[:n]
                values = [v for v, _ in items]
                steps = [s for _, s in items]
                has_steps = any(s is not None for s in steps)
                out.append((name, self.kinds[name], values, steps if has_steps else None, floats))
            # Names with floats only (the hot path): one slice each, nothing else (no
            # values list either: fewer objects for the garbage collector to walk).
            for name, fast in fast_queues.items():
                n = len(fast)
                if n and name not in pending:
                    floats = fast[:n]
                    del fast[:n]
                    out.append((name, SCALAR, (), None, floats))
        return out

    def reset(self) -> None:
        """Forget every queued value (a forked child's copy: the parent writes them).

        The ``fast`` dict is emptied in place, so aliases of it (``Run._fast``) stay
        valid, and logging a name again re-registers the run with the flusher.
        """
        self.lock = threading.Lock()
        self.pending = {}
        self.fast.clear()

    def __bool__(self) -> bool:
        return bool(self.pending) or any(len(a) for a in self.fast.values())
