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

#: A logging call checks that the writer is not starved each time a metric's queue
#: reaches a multiple of this plus one (a mask: 4,096 values).
_CHECK_EVERY = 0xFFF
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
#: Names in one drain above which it is made durable as one journal row first
#: (:mod:`runner.store.metric_journal`) and moved into metric chunks in steps.
JOURNAL_NAMES = 1000
#: Seconds of a background write cycle spent moving journal rows into chunks.
MOVE_SECONDS = 0.05
#: Values held for moving above which loggers wait for the writer (backpressure).
BACKLOG_VALUES = 4_000_000


class JournalState:
    """A run writer's journal rows not yet moved into metric chunks, oldest first.

    ``moving`` is ``[row id, entries, done]``, the row being moved; ``next_ids``
    the rows written since, whose entries ``merged`` holds in order: they are
    merged into one row when ``moving`` is done, so a writer with many names
    moves each name once per pass, not once per row.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every row (in a forked child: they are the parent's to move).

        In place: a dropped handle's finalizer holds this object, and must find it
        empty in a child rather than move the parent's rows a second time.
        """
        self.moving: list[Any] | None = None
        self.moving_values = 0  # values of ``moving`` not yet moved
        self.merged = _metrics.Merged()
        self.next_ids: list[int] = []

    def __bool__(self) -> bool:
        return self.moving is not None or bool(self.next_ids)

    def behind(self) -> bool:
        """True when the writer holds more than BACKLOG_VALUES values to move."""
        return self.merged.values + self.moving_values > BACKLOG_VALUES

    def move(self, store: Any, run_id: str, complete: bool) -> None:
        """Move rows into chunks: all of them, or for about MOVE_SECONDS."""
        started = time.monotonic()
        while self:
            if self.moving is None:
                entries = self.merged.drained()
                merging = len(self.next_ids) > 1
                row = store.journal_metrics(run_id, entries, replaces=self.next_ids) \
                    if merging else self.next_ids[0]
                self.moving = [row, entries, 0]
                self.moving_values = self.merged.values
                self.merged = _metrics.Merged()
                self.next_ids = []
                if merging and not complete:
                    return  # that write was this cycle's share: the next drain comes first
            row, entries, before = self.moving
            done = store.move_journal(run_id, row, entries, before,
                                      steps=None if complete else 1)
            if done < 0 or done >= len(entries):
                self.moving = None
                self.moving_values = 0
            else:
                self.moving[2] = done
                self.moving_values -= sum(len(e[2]) + (len(e[4]) if e[4] is not None else 0)
                                          for e in entries[before:done])
            if not complete and time.monotonic() - started > MOVE_SECONDS:
                return


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
    _journal: JournalState

    def _end(self, status: str, error: dict[str, Any] | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value of metric ``name``; repeated calls make a list in order.

        Raises:
            MetricError: ``value`` is a list, range or generator (use ``log_list``).
        """
        if step is None and type(value) is float:
            try:
                queued = self._fast[name]
            except KeyError:
                pass
            else:
                queued.append(value)
                if len(queued) & _CHECK_EVERY:
                    return
                _flusher.check_late()  # the writer may be starved of the GIL
                return
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
            weakref.finalize(self, _write_left, self._store, self._id, self._buffer,
                             self._journal)
        elif self._fast is not self._buffer.fast:
            _flusher.wait_caught_up()  # the writer fell behind: backpressure
        else:
            _flusher.check_late()

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
        self._journal.reset()  # the parent's rows are the parent's to move
        self._lost_values = None  # and its losses the parent's to record
        self._failing_since = None
        self._buffer.reset()
        self._fast = self._buffer.fast
        self._unwritten = []
        self._registered = False

    def _write_pending(self, complete: bool = True) -> bool:
        """Write what is queued; values that keep failing are recorded as lost.

        A drain of many names is made durable as one journal row and moved into
        metric chunks in steps: all of them now with ``complete``, else for
        about MOVE_SECONDS (the background writer). Returns True when the
        writer is behind (loggers should wait): the durable write took longer
        than a cycle, or more than BACKLOG_VALUES values wait to be moved.

        After a failed write the values are kept for the next try, but not for
        ever: past ``RETRY_SECONDS`` of failures, or ``RETRY_VALUES`` values, they
        are dropped and the loss is recorded on the run as soon as the store takes
        writes again (``get_details()["warnings"]``).
        """
        with self._write_lock:
            drained = self._unwritten + self._buffer.drain()
            self._unwritten = []
            state = self._journal
            if not drained and not self._lost_values and not state:
                return False
            if self._lost_values:
                try:
                    record = getattr(self._store, "record_loss", None)
                    if record is not None:
                        record(self._id, [(n, c, r) for n, (c, r) in self._lost_values.items()])
                    self._lost_values = None
                except Exception as exc:
                    self._keep_or_drop(drained, exc)
                    raise
            started = time.monotonic()
            journal = getattr(self._store, "journal_metrics", None)
            if drained and journal is not None and (state or len(drained) > JOURNAL_NAMES):
                try:
                    row = journal(self._id, drained)
                except (ValueError, TypeError, OverflowError, RecursionError):
                    self._write_direct(drained)  # each entry's failure is its own there
                except Exception as exc:
                    self._keep_or_drop(drained, exc)
                    raise
                else:
                    self._failing_since = None
                    state.next_ids.append(row)
                    state.merged.add(drained)
            elif drained:
                self._write_direct(drained)
            # Behind: the durable write itself took longer than a cycle, or more is
            # held for moving than BACKLOG_VALUES.
            slow = time.monotonic() - started > _flusher.INTERVAL
            if state:
                state.move(self._store, self._id, complete)
            return slow or state.behind()

    def _write_direct(self, drained: list) -> None:
        """Write ``drained`` into metric chunks, in transactions of WRITE_NAMES names."""
        written = 0  # entries of ``drained`` committed so far
        try:
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


def _write_left(store: Any, run_id: str, buffer: _metrics.MetricBuffer,
                journal: JournalState) -> None:
    """Write what a garbage-collected Run handle still held."""
    drained = buffer.drain()
    if not drained and not journal:
        return
    try:
        if journal:
            if drained:
                journal.next_ids.append(store.journal_metrics(run_id, drained))
                journal.merged.add(drained)
            journal.move(store, run_id, complete=True)
        else:
            store.write_metrics(run_id, drained)
    except Exception:
        import logging

        logging.getLogger(__name__).error(
            "run %s: %d queued metric name(s) of a dropped handle could not be written",
            run_id, len(drained), exc_info=True)


def _shape_all(raw: dict[str, tuple[str, list[Any]]]) -> dict[str, Any]:
    return {name: _metrics.shape(kind, values) for name, (kind, values) in raw.items()}
