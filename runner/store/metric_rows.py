"""Metric rows of the store: values in packed chunks, one metric row per name.

A mixin of :class:`runner.store.db.Store` (it uses its ``read`` and ``write``);
the SQL of metrics lives here and nowhere else.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from ..core import metrics as _metrics
from ..core.errors import StoreError
from .metric_journal import MetricJournal

#: Drained entries (one per metric name) written per transaction: a transaction is
#: short and bounded however many names a write holds, so what is committed stays
#: within the durability window even for 100,000 names.
BATCH_NAMES = 10000

_UPSERT = sqlite3.sqlite_version_info >= (3, 24)
#: Bound parameters per statement (SQLite's compiled-in limit).
_MAX_VARS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _rows(rows: list[tuple], width: int) -> Iterator[list[tuple]]:
    """``rows`` in slices small enough for one multi-row statement."""
    step = max(1, _MAX_VARS // width)
    for i in range(0, len(rows), step):
        yield rows[i : i + step]


def _values(count: int, width: int) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return ", ".join([one] * count)


def _flat(rows: list[tuple]) -> list[Any]:
    return [v for row in rows for v in row]


class MetricRows(MetricJournal):
    """Writing and reading a run's metrics.

    Writes cost a few statements per transaction, not per metric name: the
    writer caches each metric's ``(id, kind, next seq)`` per ``(run, system,
    name)`` and inserts many rows with one multi-row statement. That matters
    twice: each SQLite step releases the GIL, and next to a CPU-bound thread
    each re-acquisition can wait a whole switch interval (5 ms), so a writer
    running one statement per name would take minutes for 100,000 names.
    """

    def write(self) -> AbstractContextManager[Any]:  # pragma: no cover - Store's
        raise NotImplementedError

    def read(self, sql: str, params: tuple | list = ()) -> list[tuple]:  # pragma: no cover
        raise NotImplementedError

    def _metric_cache(self) -> dict[tuple[str, int, str], list[Any]]:
        cache = getattr(self, "_metric_ids", None)
        if cache is None or getattr(self, "_metric_ids_pid", None) != os.getpid():
            cache = self._metric_ids = {}  # a forked child must look again
            self._metric_ids_pid = os.getpid()
        return cache

    def write_metrics(
        self, run_id: str, drained: list, *, system: bool = False,
        batch: tuple[str, int] | None = None,
        journal: tuple[int, int, int, bool] | None = None,
    ) -> bool:
        """Append what a MetricBuffer drained, in transactions of at most BATCH_NAMES names.

        Values that cannot be stored (they cannot be encoded, or the name is a
        metric of another kind already) are left out and recorded as lost on the
        run (:meth:`record_loss`), so the rest is written.

        ``batch``: an idempotency key ``(sender, seq)`` (a batch sent over HTTP, of
        bounded size): all of it goes in one transaction with the key, and a batch
        whose key is stored already is not stored again (returns False).

        ``journal``: ``(journal row, done, end, finished)``: ``drained`` is that
        row's entries ``done`` to ``end``, written in one transaction that records
        the row's progress (and deletes it when ``finished``); returns False, and
        writes nothing, when the row's progress is no longer ``done`` (another
        process moved these entries first).
        """
        parts = [drained] if batch is not None or journal is not None else \
            [drained[i : i + BATCH_NAMES] for i in range(0, len(drained), BATCH_NAMES)]
        for part in parts:
            try:
                stored = self._write_batch(run_id, part, system, batch, journal)
            except StoreError as exc:
                if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise
                # Another process appended to one of these metrics: our cached next
                # seq is stale. Forget this run's entries and look them up again.
                cache = self._metric_cache()
                for key in [k for k in cache if k[0] == run_id]:
                    del cache[key]
                stored = self._write_batch(run_id, part, system, batch, journal)
            if not stored:
                return False
        return True

    def _write_batch(self, run_id: str, drained: list, system: bool,
                     batch: tuple[str, int] | None = None,
                     journal: tuple[int, int, int, bool] | None = None) -> bool:
        now = time.time()
        cache = self._metric_cache()
        sys_flag = int(system)
        lost: list[tuple[str, int, str]] = []
        encoded = []
        for name, kind, values, steps, floats in drained:
            count = len(values) + (len(floats) if floats is not None else 0)
            try:
                name.encode("utf-8")  # SQLite cannot bind a lone surrogate
                chunks: list[tuple[str, bytes, int, str | None]] = []
                if values:
                    if steps is None:
                        chunks.extend((e, d, n, None) for e, d, n in _metrics.pack(values))
                    else:
                        chunks.append(("j", json.dumps(values).encode(), len(values),
                                       json.dumps(steps)))
                if floats is not None:
                    chunks.extend((e, d, n, None) for e, d, n in _metrics.pack_floats(floats))
                last = json.dumps(floats[-1] if floats is not None else values[-1],
                                  allow_nan=True)
            except (ValueError, TypeError, OverflowError, RecursionError) as exc:
                shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
                lost.append((shown, count, f"cannot be encoded: {type(exc).__name__}: {exc}"))
                continue
            encoded.append((name, kind, chunks, last, count))
        with self.write() as conn:
            if batch is not None and not conn.execute(
                    "INSERT OR IGNORE INTO metric_batches (run_id, sender, seq) VALUES (?, ?, ?)",
                    (run_id, batch[0], batch[1])).rowcount:
                return False  # stored once already
            if journal is not None:
                progress = conn.execute("SELECT done FROM metric_journal WHERE id = ?",
                                        (journal[0],)).fetchone()
                if progress is None or progress[0] != journal[1]:
                    return False  # moved by another process meanwhile
            unknown = [e[0] for e in encoded if (run_id, sys_flag, e[0]) not in cache]
            found = self._lookup(conn, run_id, sys_flag, unknown) if unknown else {}
            new_rows = []
            next_id = None
            staged: dict[tuple[str, int, str], list[Any]] = {}
            chunk_rows = []
            update_rows = []
            for name, kind, chunks, last, count in encoded:
                key = (run_id, sys_flag, name)
                entry = staged.get(key) or cache.get(key) or found.get(name)
                created = False
                if entry is None:
                    if next_id is None:
                        next_id = conn.execute(
                            "SELECT COALESCE(MAX(id), 0) + 1 FROM metrics").fetchone()[0]
                    entry = [next_id, kind, 0]
                    next_id += 1
                    created = True
                elif entry[1] != kind:
                    # Like Azure ML, the first kind stays; these values are not stored.
                    lost.append((name, count, f"metric {name!r} is a {entry[1]}, these "
                                              f"values were logged as a {kind}"))
                    continue
                entry = list(entry)
                seq = entry[2]
                chunk_rows.extend((entry[0], seq + i, e, n, d, st, now)
                                  for i, (e, d, n, st) in enumerate(chunks))
                entry[2] = seq + len(chunks)
                total = sum(c[2] for c in chunks)
                if created:
                    new_rows.append((entry[0], run_id, name, kind, sys_flag, total, last))
                else:
                    update_rows.append((entry[0], run_id, name, kind, sys_flag, total, last))
                staged[key] = entry
            for rows in _rows(new_rows, 7):
                conn.execute(
                    "INSERT INTO metrics (id, run_id, name, kind, system, count, last) "
                    f"VALUES {_values(len(rows), 7)}", _flat(rows))
            for rows in _rows(chunk_rows, 7):
                conn.execute(
                    "INSERT INTO metric_chunks (metric_id, seq, enc, n, data, steps, time) "
                    f"VALUES {_values(len(rows), 7)}", _flat(rows))
            if _UPSERT:
                for rows in _rows(update_rows, 7):
                    conn.execute(
                        "INSERT INTO metrics (id, run_id, name, kind, system, count, last) "
                        f"VALUES {_values(len(rows), 7)} ON CONFLICT(id) DO UPDATE SET "
                        "count = count + excluded.count, last = excluded.last", _flat(rows))
            else:  # pragma: no cover - SQLite before 3.24 (2018)
                conn.executemany("UPDATE metrics SET count = count + ?, last = ? WHERE id = ?",
                                 [(r[5], r[6], r[0]) for r in update_rows])
            if lost:
                self._insert_losses(conn, run_id, sys_flag, lost, now)
            if journal is not None:
                if journal[3]:
                    conn.execute("DELETE FROM metric_journal WHERE id = ?", (journal[0],))
                else:
                    conn.execute("UPDATE metric_journal SET done = ? WHERE id = ?",
                                 (journal[2], journal[0]))
        cache.update(staged)  # only once committed
        if lost:
            import logging

            for name, count, reason in lost:
                logging.getLogger(__name__).warning(
                    "run %s: %d value(s) of metric %r were not stored: %s",
                    run_id, count, name, reason)
        return True

    @staticmethod
    def _lookup(conn: Any, run_id: str, sys_flag: int,
                names: list[str]) -> dict[str, list[Any]]:
        """``{name: [id, kind, next seq]}`` of those of ``names`` that exist.

        One row per statement (group_concat): every row fetched would be a SQLite
        step, each a chance to wait for the GIL.
        """
        found: dict[str, list[Any]] = {}
        for part in _rows([(n,) for n in names], 1):
            (text,) = conn.execute(
                "SELECT group_concat(m.id || ',' || m.kind || ',' || "
                "(SELECT COALESCE(MAX(c.seq), -1) + 1 FROM metric_chunks c "
                "WHERE c.metric_id = m.id) || ',' || hex(m.name), ';') "
                "FROM metrics m WHERE m.run_id = ? AND m.system = ? "
                f"AND m.name IN ({', '.join('?' * len(part))})",
                [run_id, sys_flag, *(p[0] for p in part)]).fetchone()
            for item in (text or "").split(";") if text else ():
                metric_id, kind, seq, hexname = item.split(",")
                found[bytes.fromhex(hexname).decode("utf-8")] = [int(metric_id), kind, int(seq)]
        return found

    # -------------------------------------------------------------------- losses

    @staticmethod
    def _insert_losses(conn: Any, run_id: str, sys_flag: int,
                       lost: list[tuple[str, int, str]], now: float) -> None:
        conn.executemany(
            "INSERT INTO metric_losses (run_id, name, system, count, reason, time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, name, sys_flag, count, reason[:500], now) for name, count, reason in lost])

    def record_loss(self, run_id: str, lost: list[tuple[str, int, str]], *,
                    system: bool = False) -> None:
        """Record that values of the run's metrics were accepted and not stored.

        Args:
            run_id: The run.
            lost: ``(metric name, number of values, reason)`` triples.
            system: True for the supervisor's system metrics.
        """
        with self.write() as conn:
            self._insert_losses(conn, run_id, int(system), lost, time.time())

    def metric_losses(self, run_id: str) -> list[dict[str, Any]]:
        """The run's recorded losses, oldest first: ``{name, count, reason, system}``."""
        rows = self.read(
            "SELECT name, count, reason, system FROM metric_losses WHERE run_id = ? "
            "ORDER BY time, rowid", (run_id,))
        return [{"name": n, "count": c, "reason": r, "system": bool(s)} for n, c, r, s in rows]

    def read_metrics(
        self, run_id: str, name: str | None = None, *, system: bool = False
    ) -> dict[str, tuple[str, list[Any]]]:
        """``{name: (kind, values)}`` of a run's user (or system) metrics."""
        self.settle_journal([run_id])
        sql = ("SELECT m.name, m.kind, c.enc, c.data FROM metrics m JOIN metric_chunks c "
               "ON c.metric_id = m.id WHERE m.run_id = ? AND m.system = ?")
        params: list[Any] = [run_id, int(system)]
        if name is not None:
            sql += " AND m.name = ?"
            params.append(name)
        sql += " ORDER BY m.id, c.seq"
        out: dict[str, tuple[str, list[Any]]] = {}
        for metric, kind, enc, data in self.read(sql, params):
            entry = out.get(metric)
            if entry is None:
                entry = out[metric] = (kind, [])
            entry[1].extend(_metrics.unpack(enc, data))
        return out

    def last_metrics(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The last value of each scalar user metric of each run (for listings)."""
        out: dict[str, dict[str, Any]] = {}
        self.settle_journal(run_ids)
        for i in range(0, len(run_ids), 500):
            part = run_ids[i : i + 500]
            rows = self.read(
                f"SELECT run_id, name, last FROM metrics WHERE system = 0 AND kind = ? "
                f"AND run_id IN ({', '.join('?' * len(part))})",
                [_metrics.SCALAR, *part],
            )
            for run_id, name, last in rows:
                out.setdefault(run_id, {})[name] = json.loads(last) if last else None
        return out

    def metric_summaries(self, run_id: str, *, system: bool = False) -> list[dict[str, Any]]:
        """Each metric's name, kind, count, last value and chunk encodings, without its values.

        What a listing of a run's metrics needs, read from the metric rows alone (a
        million-point series costs nothing here): ``encodings`` is the set of chunk
        encodings (``d``/``q`` are numbers, ``j`` JSON), ``stepped`` whether any value was
        logged with a step.
        """
        self.settle_journal([run_id])
        rows = self.read(
            "SELECT m.name, m.kind, m.count, m.last, "
            "(SELECT GROUP_CONCAT(DISTINCT c.enc) FROM metric_chunks c WHERE c.metric_id = m.id), "
            "EXISTS (SELECT 1 FROM metric_chunks c WHERE c.metric_id = m.id "
            "AND c.steps IS NOT NULL) "
            "FROM metrics m WHERE m.run_id = ? AND m.system = ? ORDER BY m.name",
            (run_id, int(system)))
        return [{"name": name, "kind": kind, "count": count,
                 "last": json.loads(last) if last else None,
                 "encodings": set((encs or "").split(",")) - {""}, "stepped": bool(stepped)}
                for name, kind, count, last, encs, stepped in rows]

    def series_chunks(self, run_id: str, name: str, *, system: bool = False
                      ) -> tuple[str, list[tuple[int, int, str, list[Any] | None, float]]] | None:
        """A metric's kind and its chunks' layout, without their data.

        Returns ``(kind, [(seq, n, enc, steps or None, time), ...])`` in order, or None
        when the run has no such metric; ``steps`` are the logged steps of a chunk's
        values (None when they were logged without one) and ``time`` when it was written.
        """
        self.settle_journal([run_id])
        found = self.read("SELECT id, kind FROM metrics WHERE run_id = ? AND system = ? "
                          "AND name = ?", (run_id, int(system), name))
        if not found:
            return None
        metric_id, kind = found[0]
        rows = self.read("SELECT seq, n, enc, steps, time FROM metric_chunks "
                         "WHERE metric_id = ? ORDER BY seq", (metric_id,))
        return kind, [(seq, n, enc, json.loads(steps) if steps else None, at)
                      for seq, n, enc, steps, at in rows]

    def chunk_data(self, run_id: str, name: str, seqs: list[int], *,
                   system: bool = False) -> list[tuple[str, bytes]]:
        """The ``(enc, data)`` of the chunks ``seqs`` of a metric, in ``seq`` order."""
        out: list[tuple[str, bytes]] = []
        for i in range(0, len(seqs), 500):
            part = seqs[i : i + 500]
            out.extend(self.read(
                "SELECT c.enc, c.data FROM metric_chunks c JOIN metrics m ON m.id = c.metric_id "
                "WHERE m.run_id = ? AND m.system = ? AND m.name = ? "
                f"AND c.seq IN ({', '.join('?' * len(part))}) ORDER BY c.seq",
                [run_id, int(system), name, *part]))
        return out
