"""Logging into a run and reading its metrics back: the metric half of ``Run``.

Logging calls queue values in memory (``runner.core.metrics.MetricBuffer``) and a
background thread writes them (``runner.inrun.flusher``). Standard library only.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..core import metrics as _metrics
from ..core.errors import MetricError
from ..core.status import FAILED, error_record
from ..inrun import flusher as _flusher

if TYPE_CHECKING:
    from ..store.db import Store

#: Floats written at once above which freed memory is handed back to the system.
_BIG_WRITE = 1 << 19
#: How long, and how many values, a run keeps retrying a failing write before it
#: drops the values and records them as lost.
RETRY_SECONDS = 30.0
RETRY_VALUES = 5_000_000
#: Metric names committed per transaction by a run's writer: each commit makes what
#: was logged durable, so a big drain (100,000 names) is written in steps. Fewer,
#: bigger steps cost fewer GIL hand-offs next to a busy thread.
WRITE_NAMES = 5000


class RunMetrics:
    """Metrics of a run (a mixin of :class:`runner.api.run.Run`)."""

    _id: str
    _store: Store
    _in_run: bool
    _owner: bool
    _buffer: _metrics.MetricBuffer
    _fast: dict[str, Any]
    _registered: bool
    _unwritten: list
    _write_lock: threading.RLock
    _lost_values: dict[str, tuple[int, str]] | None = None
    _failing_since: float | None = None

    def _end(self, status: str, error: dict[str, Any] | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value of metric ``name``; repeated calls make a list in order.

        Raises:
            MetricError: ``value`` is a list, range or generator (use ``log_list``).
        """
        if step is None and type(value) is float:
            try:
                self._fast[name].append(value)
                return
            except KeyError:
                pass
        self._add(name, _metrics.SCALAR, _metrics.normalize_value(name, value), step)

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log every element of ``value`` as a value of metric ``name``."""
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise MetricError(f"log_list({name!r}, value) needs a list of values, "
                              f"not {type(value).__name__}.", metric=name)
        values = []
        for item in value:
            if isinstance(item, (list, tuple, dict, set)):
                raise MetricError(
                    f"log_list({name!r}) elements must be single values, not "
                    f"{type(item).__name__}; use log_table for rows of several values.",
                    metric=name,
                )
            values.append(_metrics.normalize_value(name, item, where="log_list"))
        for item in values:
            self._add(name, _metrics.SCALAR, item, None)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of table ``name``; columns are the keyword arguments."""
        if not kwargs:
            raise MetricError(f"log_row({name!r}) needs at least one column=value.",
                              metric=name)
        row = {col: _metrics.normalize_row_value(name, col, v) for col, v in kwargs.items()}
        self._add(name, _metrics.TABLE, row, None)

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        """Append rows given as ``{column: [values...]}`` to table ``name``.

        Raises:
            MetricError: not a dict, or columns of different lengths.
        """
        for row in _metrics.table_rows(name, value):
            self._add(name, _metrics.TABLE, row, None)

    def _add(self, name: str, kind: str, value: Any, step: int | None) -> None:
        _metrics.check_name(name)
        self._buffer.add(name, kind, value, _metrics.check_step(name, step))
        if not self._registered:
            self._registered = True
            _flusher.register(self)
            # A handle dropped with values queued (a worker's local Run) writes them
            # as it goes: the flusher holds runs weakly.
            weakref.finalize(self, _write_left, self._store, self._id, self._buffer)
        elif self._fast is not self._buffer.fast:
            _flusher.wait_caught_up()  # the writer fell behind: backpressure

    def _throttle(self, on: bool) -> None:
        """Route float logging through ``_add`` (which waits) while the writer is behind.

        The hot path of ``log`` is one dict lookup and an append to ``self._fast``;
        an empty dict in its place sends every call to ``_add`` at no cost to the
        fast path when the writer keeps up.
        """
        self._fast = {} if on else self._buffer.fast

    def _after_fork(self) -> None:
        """In a forked child: the parent writes what was queued; start empty."""
        self._write_lock = threading.RLock()
        self._buffer.reset()
        self._fast = self._buffer.fast
        self._unwritten = []
        self._registered = False

    def _write_pending(self) -> None:
        """Write what is queued; values that keep failing are recorded as lost.

        After a failed write the values are kept for the next try, but not for
        ever: past ``RETRY_SECONDS`` of failures, or ``RETRY_VALUES`` values, they
        are dropped and the loss is recorded on the run as soon as the store takes
        writes again (``get_details()["warnings"]``).
        """
        with self._write_lock:
            drained = self._unwritten + self._buffer.drain()
            self._unwritten = []
            if not drained and not self._lost_values:
                return
            written = 0  # entries of ``drained`` committed so far
            try:
                if self._lost_values:
                    record = getattr(self._store, "record_loss", None)
                    if record is not None:
                        record(self._id, [(n, c, r) for n, (c, r) in self._lost_values.items()])
                    self._lost_values = None
                started = time.monotonic()
                while written < len(drained):
                    self._store.write_metrics(self._id, drained[written : written + WRITE_NAMES])
                    written += WRITE_NAMES
                    if written < len(drained) and time.monotonic() - started > _flusher.INTERVAL:
                        # A long write: make loggers wait now, not after it, so what
                        # piles up meanwhile stays small.
                        _flusher._throttle(True)
                self._failing_since = None
            except Exception as exc:
                self._keep_or_drop(drained[written:], exc)
                raise
            if sum(len(d[4]) for d in drained if d[4] is not None) > _BIG_WRITE:
                del drained
                _flusher.release_memory()

    def _keep_or_drop(self, drained: list, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        held = sum(len(d[2]) + (len(d[4]) if d[4] is not None else 0) for d in drained)
        if now - self._failing_since < RETRY_SECONDS and held <= RETRY_VALUES:
            self._unwritten = drained
            return
        lost = dict(self._lost_values or {})
        reason = f"the store refused the write: {type(exc).__name__}: {exc}"[:500]
        for name, _kind, values, _steps, floats in drained:
            count = len(values) + (len(floats) if floats is not None else 0)
            before = lost.get(name, (0, reason))[0]
            lost[name] = (before + count, reason)
        self._lost_values = lost
        import logging

        logging.getLogger(__name__).error(
            "run %s: dropped %d metric value(s) that could not be written for %.0f s: %s",
            self._id, held, now - self._failing_since, reason)

    def _loss_warnings(self) -> list[dict[str, Any]]:
        """``get_details()["warnings"]`` entries for values that were not stored."""
        losses = getattr(self._store, "metric_losses", None)
        rows = losses(self._id) if losses is not None else []
        if self._lost_values:
            rows = rows + [{"name": n, "count": c, "reason": r, "system": False}
                           for n, (c, r) in self._lost_values.items()]
        return [{"source": "metrics", "code": "MetricsLost",
                 "message": f"{r['count']} value(s) of metric {r['name']!r} were not "
                            f"stored: {r['reason']}"} for r in rows]

    def _on_terminate(self) -> None:
        """SIGTERM in the owning process: an interactive run ends Failed, outputs kept."""
        if self._owner and not self._in_run:
            self._end(FAILED, error_record("The process was terminated (SIGTERM).",
                                           code="Terminated"))

    def flush(self, timeout_seconds: float = 300) -> None:
        """Write every value logged so far to the store now."""
        self._write_pending()

    def get_metrics(self, name: str | None = None, recursive: bool = False,
                    **kwargs: Any) -> dict[str, Any]:
        """The run's metrics in Azure ML's shapes.

        A value logged once is bare, several times a list in order; a table is
        ``{column: [...]}`` (one row: ``{column: value}``); an image is the stored
        file's name. With ``name``, ``{name: value}`` or ``{}``. With
        ``recursive``, ``{run_id: {...}}`` over this run and its descendants,
        leaving out runs with no metrics.
        """
        if self._registered:
            self._write_pending()
        # Values other handles of this process logged (a child's, or another handle
        # on this run) are still in memory: write them so this read sees them.
        _flusher.flush_all()
        if recursive:
            out = {}
            for run_id in [self._id, *(r["id"] for r in self._store.children(self._id, True))]:
                metrics = _shape_all(self._store.read_metrics(run_id, name))
                if metrics:
                    out[run_id] = metrics
            return out
        return _shape_all(self._store.read_metrics(self._id, name))

    def get_system_metrics(self) -> dict[str, Any]:
        """CPU and memory samples the supervisor took of a submitted run's processes."""
        return _shape_all(self._store.read_metrics(self._id, system=True))


def _write_left(store: Any, run_id: str, buffer: _metrics.MetricBuffer) -> None:
    """Write what a garbage-collected Run handle still held."""
    drained = buffer.drain()
    if not drained:
        return
    try:
        store.write_metrics(run_id, drained)
    except Exception:
        import logging

        logging.getLogger(__name__).error(
            "run %s: %d queued metric name(s) of a dropped handle could not be written",
            run_id, len(drained), exc_info=True)


def _shape_all(raw: dict[str, tuple[str, list[Any]]]) -> dict[str, Any]:
    return {name: _metrics.shape(kind, values) for name, (kind, values) in raw.items()}
