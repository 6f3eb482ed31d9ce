"""Metric rows of the store: values in packed chunks, one metric row per name.

A mixin of :class:`runner.store.db.Store` (it uses its ``read`` and ``write``);
the SQL of metrics lives here and nowhere else.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Any

from ..core import metrics as _metrics


class MetricRows:
    """Writing and reading a run's metrics."""

    def write(self) -> AbstractContextManager[Any]:  # pragma: no cover - Store's
        raise NotImplementedError

    def read(self, sql: str, params: tuple | list = ()) -> list[tuple]:  # pragma: no cover
        raise NotImplementedError

    def write_metrics(
        self, run_id: str, drained: list, *, system: bool = False
    ) -> None:
        """Append what a MetricBuffer drained, one transaction for all of it."""
        now = time.time()
        with self.write() as conn:
            for name, kind, values, steps, floats in drained:
                row = conn.execute(
                    "SELECT id, kind FROM metrics WHERE run_id = ? AND system = ? AND name = ?",
                    (run_id, int(system), name),
                ).fetchone()
                if row is None:
                    metric_id = conn.execute(
                        "INSERT INTO metrics (run_id, name, kind, system) VALUES (?, ?, ?, ?)",
                        (run_id, name, kind, int(system)),
                    ).lastrowid
                elif row[1] != kind:
                    # Another handle or process made this name a metric of another
                    # kind; like Azure ML, keep the first kind and drop these values.
                    import logging

                    logging.getLogger(__name__).warning(
                        "metric %r of run %s is a %s; dropped %s value(s) logged as a %s",
                        name, run_id, row[1],
                        len(values) + (len(floats) if floats is not None else 0), kind)
                    continue
                else:
                    metric_id = row[0]
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM metric_chunks WHERE metric_id = ?",
                    (metric_id,),
                ).fetchone()[0]
                chunks: list[tuple[str, bytes, int, str | None]] = []
                if values:
                    if steps is None:
                        chunks.extend((e, d, n, None) for e, d, n in _metrics.pack(values))
                    else:
                        chunks.append(("j", json.dumps(values).encode(), len(values),
                                       json.dumps(steps)))
                if floats is not None:
                    chunks.extend((e, d, n, None) for e, d, n in _metrics.pack_floats(floats))
                conn.executemany(
                    "INSERT INTO metric_chunks (metric_id, seq, enc, n, data, steps, time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(metric_id, seq + i, e, n, d, s, now) for i, (e, d, n, s) in
                     enumerate(chunks)],
                )
                last = floats[-1] if floats is not None else values[-1]
                total = sum(c[2] for c in chunks)
                conn.execute(
                    "UPDATE metrics SET count = count + ?, last = ? WHERE id = ?",
                    (total, json.dumps(last, allow_nan=True), metric_id),
                )

    def read_metrics(
        self, run_id: str, name: str | None = None, *, system: bool = False
    ) -> dict[str, tuple[str, list[Any]]]:
        """``{name: (kind, values)}`` of a run's user (or system) metrics."""
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
