"""The metric journal: what a writer with many names makes durable in one row per write.

Why it exists: writing a drain of 100,000 metric names into per-name chunks takes
seconds of Python work (a row, a seq and a last value per name), while the
durability promise is that a SIGKILL loses at most about the last second. So a
writer whose drain holds many names first appends the whole drain as one
journal row (a names list, a counts array and one blob of floats: about a
microsecond of work per name, one statement), and then moves it into the metric
chunks in bounded steps. Each step commits its chunks together with the
journal row's progress (``done``, the entries moved), so a row is never moved
twice and never lost.

When the writer is gone (SIGKILL, a crash) before its rows were moved, the
first reader of the run's metrics moves them (:meth:`MetricJournal.settle_journal`),
after checking by pid and start time that the writer really is gone. Rows of a
live writer are left to it.

The base of :class:`runner.store.metric_rows.MetricRows` (and so a part of
:class:`runner.store.db.Store`).
"""

from __future__ import annotations

import json
import time
from array import array
from contextlib import AbstractContextManager
from typing import Any

from ..core.errors import StoreError
from . import proc as _proc

#: Entries moved into metric chunks per transaction.
STEP_NAMES = 1000


def encode(drained: list) -> tuple[str, bytes, bytes, str | None]:
    """A drained list as ``(names, counts, floats, items)`` columns of a journal row.

    Raises:
        ValueError, TypeError: A value cannot be written as JSON (the caller then
            writes the drain directly, where each entry's failure is its own).
    """
    names = []
    kinds = []
    counts = array("q")
    blobs = []
    items = None
    for index, (name, kind, values, steps, floats) in enumerate(drained):
        names.append(name)
        kinds.append(kind)
        if floats is not None:
            counts.append(len(floats))
            blobs.append(floats.tobytes())
        else:
            counts.append(0)
        if values:
            if items is None:
                items = [None] * index
            items.append((values, steps))
        elif items is not None:
            items.append(None)
    text = json.dumps(items, allow_nan=True) if items is not None else None
    # Two lists of strings, not a pair per entry: no object per name to build.
    return json.dumps((names, kinds)), counts.tobytes(), b"".join(blobs), text


def decode(names: str, counts: bytes, floats: bytes, items: str | None) -> list:
    """The drained list that :func:`encode` wrote."""
    entry_names, kinds = json.loads(names)
    sizes = array("q")
    sizes.frombytes(counts)
    data = array("d")
    data.frombytes(floats)
    cells = json.loads(items) if items is not None else None
    out = []
    at = 0
    for index, name in enumerate(entry_names):
        kind = kinds[index]
        size = sizes[index]
        trailing = data[at : at + size] if size else None
        at += size
        cell = cells[index] if cells is not None and index < len(cells) else None
        values, steps = (cell[0], cell[1]) if cell is not None else ([], None)
        out.append((name, kind, values, steps, trailing))
    return out


class MetricJournal:
    """Journal rows of a run's metrics: appended, moved in steps, settled by readers."""

    def write(self) -> AbstractContextManager[Any]:  # pragma: no cover - Store's
        raise NotImplementedError

    def read(self, sql: str, params: tuple | list = ()) -> list[tuple]:  # pragma: no cover
        raise NotImplementedError

    def write_metrics(self, run_id: str, drained: list, *, system: bool = False,
                      batch: tuple[str, int] | None = None,
                      journal: tuple[int, int, int, bool] | None = None
                      ) -> bool:  # pragma: no cover - MetricRows' (a subclass)
        raise NotImplementedError

    def journal_metrics(self, run_id: str, drained: list, *, system: bool = False,
                        replaces: list[int] | None = None) -> int:
        """Append ``drained`` as one journal row (durable when this returns); its id.

        ``replaces``: journal rows of this writer that ``drained`` holds already
        (merged, none of them partly moved): deleted in the same transaction.

        Raises:
            ValueError, TypeError: A value cannot be encoded (write it directly).
            StoreError: The store refused the write.
        """
        columns = encode(drained)
        pid, started = _proc.identity()
        with self.write() as conn:
            if replaces:
                conn.execute(f"DELETE FROM metric_journal WHERE id IN "
                             f"({', '.join('?' * len(replaces))})", replaces)
            cursor = conn.execute(
                "INSERT INTO metric_journal (run_id, system, writer_pid, writer_start, names, "
                "counts, floats, items, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, int(system), pid, started, *columns, time.time()))
            return int(cursor.lastrowid)

    def move_journal(self, run_id: str, journal_id: int, drained: list, done: int, *,
                     system: bool = False, steps: int | None = None) -> int:
        """Move entries of journal row ``journal_id`` from ``done`` on into metric chunks.

        At most ``steps`` transactions of :data:`STEP_NAMES` entries (all, when
        None). Returns the entries moved so far; ``len(drained)`` means the row is
        gone. Another process that moved the same entries first wins, and this
        returns -1.
        """
        taken = 0
        while done < len(drained) and (steps is None or taken < steps):
            end = min(len(drained), done + STEP_NAMES)
            if not self.write_metrics(run_id, drained[done:end], system=system,
                                      journal=(journal_id, done, end, end == len(drained))):
                return -1
            done = end
            taken += 1
        return done

    def settle_journal(self, run_ids: list[str] | None = None) -> None:
        """Move the journal rows of writers that are gone (``run_ids``: of these runs only).

        A reader calls this before reading metrics, so values a killed writer had
        made durable are in what it reads. Rows of live writers are left to them.
        Never raises: a store that refuses writes (a full disk, a read-only copy)
        keeps the rows for the next reader.
        """
        try:
            rows = self._journal_rows(run_ids)
            dead: dict[tuple[int, Any], bool] = {}
            for journal_id, run_id, system, pid, started in rows:
                key = (pid, started)
                if key not in dead:
                    dead[key] = not _proc.is_alive(pid, started)
                if dead[key]:
                    self._settle_row(journal_id, run_id, bool(system))
        except StoreError as exc:
            import logging  # not at import: every script pays for a module-level import

            logging.getLogger(__name__).warning("metric journal rows not moved yet: %s", exc)

    def _journal_rows(self, run_ids: list[str] | None) -> list[tuple]:
        sql = "SELECT id, run_id, system, writer_pid, writer_start FROM metric_journal"
        if run_ids is None:
            return self.read(sql + " ORDER BY id")
        out: list[tuple] = []
        for i in range(0, len(run_ids), 500):
            part = run_ids[i : i + 500]
            out.extend(self.read(f"{sql} WHERE run_id IN ({', '.join('?' * len(part))})",
                                 part))
        return sorted(out)

    def _settle_row(self, journal_id: int, run_id: str, system: bool) -> None:
        for _ in range(3):  # another reader may be moving the same row
            found = self.read("SELECT names, counts, floats, items, done FROM metric_journal "
                              "WHERE id = ?", (journal_id,))
            if not found:
                return
            names, counts, floats, items, done = found[0]
            drained = decode(names, counts, floats, items)
            if self.move_journal(run_id, journal_id, drained, done, system=system) >= 0:
                return

    def journal_counts(self, run_id: str, *, system: bool = False) -> dict[str, int]:
        """``{name: values}`` the run's journal rows hold and metric chunks do not yet."""
        out: dict[str, int] = {}
        for names, counts, items, done in self.read(
                "SELECT names, counts, items, done FROM metric_journal WHERE run_id = ? "
                "AND system = ?", (run_id, int(system))):
            sizes = array("q")
            sizes.frombytes(counts)
            cells = json.loads(items) if items is not None else None
            for index, name in enumerate(json.loads(names)[0]):
                if index < done:
                    continue
                cell = cells[index] if cells is not None and index < len(cells) else None
                out[name] = out.get(name, 0) + sizes[index] + (len(cell[0]) if cell else 0)
        return out
