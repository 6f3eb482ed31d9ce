"""The workspace store: one SQLite database (WAL) beside the run folders.

Standard library only: submitted scripts write their metrics straight into it
from any interpreter. Every write is a short ``BEGIN IMMEDIATE`` transaction
under a long busy timeout, so several processes logging at once wait for each
other instead of failing with "database is locked". The schema is versioned with
``PRAGMA user_version`` and migrated forward on open.

SQL lives here and nowhere else; callers get plain dicts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.errors import ArtifactError, RunNotFound, StoreError, UsageError
from ..core.paths import WorkspacePaths
from .metric_rows import MetricRows
from .schema import MIGRATIONS

_BUSY_TIMEOUT_MS = 120_000

# Every connection of every Store in this process, so that a fork can happen with
# none open: SQLite must not be open across fork(), or the child inherits lock
# bookkeeping it does not hold. Operations hold ``_FORK_LOCK`` (re-entrant).
_FORK_LOCK = threading.RLock()
_CONNECTIONS: list[sqlite3.Connection] = []
_conn_pid = [os.getpid()]

if hasattr(os, "register_at_fork"):
    # Hold the lock across every fork: a child must not be born while another thread
    # is inside SQLite (its copy of that connection's state would be half-written).
    os.register_at_fork(before=_FORK_LOCK.acquire, after_in_parent=_FORK_LOCK.release,
                        after_in_child=_FORK_LOCK.release)

SCHEMA_VERSION = len(MIGRATIONS)

_RUN_FIELDS = (
    "parent_id", "type", "display_name", "description", "status", "created",
    "start_time", "end_time", "owner_pid", "owner_start", "script_pid",
    "script_start", "snapshot_id", "definition", "error", "exit_code", "system",
    "cancel_requested", "gpus",
)
_JSON_FIELDS = ("definition", "error", "system", "gpus")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store(MetricRows):
    """The SQLite store of one workspace; safe to share across threads and forks."""

    def __init__(self, paths: WorkspacePaths) -> None:
        self.paths = paths
        self._local = threading.local()
        self._pid = os.getpid()
        self._migrated = False

    # ----------------------------------------------------------------- plumbing

    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            # A forked child must never use (or close) its parent's connections.
            self._local = threading.local()
            self._pid = os.getpid()
        if _conn_pid[0] != os.getpid():
            _CONNECTIONS.clear()  # the parent's: never touch them here
            _conn_pid[0] = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "generation", None) != _generation[0]:
            conn = self._open()
            self._local.conn = conn
            self._local.generation = _generation[0]
            _CONNECTIONS.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        if not self.paths.runner_dir.is_dir():
            raise StoreError(
                f"{self.paths.runner_dir} is not a workspace folder; create one with "
                "`runner init`.",
                path=str(self.paths.runner_dir),
            )
        try:
            conn = sqlite3.connect(
                str(self.paths.db),
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._migrated:
                self._migrate(conn)
                self._migrated = True
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the workspace store {self.paths.db}: {exc}",
                path=str(self.paths.db),
            ) from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the workspace store {self.paths.db} has schema version {version}, newer "
                f"than this runner understands ({SCHEMA_VERSION}); upgrade runner.",
                path=str(self.paths.db),
            )
        conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        for attempt in range(50):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or attempt == 49:
                    raise StoreError(f"the workspace store is busy: {exc}") from exc
                time.sleep(0.05)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT) on this thread's connection."""
        with _FORK_LOCK:
            conn = self._conn()
            try:
                with self._transaction(conn):
                    yield conn
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"writing the workspace store failed: {exc}") from exc

    def read(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        with _FORK_LOCK:
            try:
                return self._conn().execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"reading the workspace store failed: {exc}") from exc

    def initialize(self) -> None:
        """Create or migrate the schema now."""
        self._conn()

    # -------------------------------------------------------------- experiments

    def experiment_id(self, name: str, *, create: bool = True) -> int | None:
        """The id of experiment ``name``, creating it when asked."""
        rows = self.read("SELECT id FROM experiments WHERE name = ?", (name,))
        if rows:
            return rows[0][0]
        if not create:
            return None
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments (name, created) VALUES (?, ?)",
                (name, time.time()),
            )
            return conn.execute(
                "SELECT id FROM experiments WHERE name = ?", (name,)
            ).fetchone()[0]

    def experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its run counts by status and last activity."""
        rows = self.read(
            """
            SELECT e.name, e.created, r.status, COUNT(r.id), MAX(r.created)
            FROM experiments e LEFT JOIN runs r
              ON r.experiment_id = e.id AND r.parent_id IS NULL
            GROUP BY e.id, r.status ORDER BY e.name
            """
        )
        out: dict[str, dict[str, Any]] = {}
        for name, created, status, count, last in rows:
            item = out.setdefault(
                name, {"name": name, "created": created, "runs": 0, "statuses": {},
                       "last_activity": created},
            )
            if status is not None:
                item["statuses"][status] = count
                item["runs"] += count
                item["last_activity"] = max(item["last_activity"], last or 0)
        return list(out.values())

    # --------------------------------------------------------------------- runs

    def insert_run(self, run_id: str, experiment: str, **fields: Any) -> None:
        """Write a new run row (and its experiment if new)."""
        exp_id = self.experiment_id(experiment)
        columns = ["id", "experiment_id"]
        values: list[Any] = [run_id, exp_id]
        for key, value in fields.items():
            if key not in _RUN_FIELDS:
                raise ValueError(f"unknown run field {key}")
            columns.append(key)
            values.append(json.dumps(value) if key in _JSON_FIELDS and value is not None
                          else value)
        marks = ", ".join("?" * len(values))
        with self.write() as conn:
            conn.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})", values)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run row as a dict; raises RunNotFound."""
        rows = self.read(_SELECT_RUN + " WHERE r.id = ?", (run_id,))
        if not rows:
            raise RunNotFound(
                f"no run {run_id!r} in workspace {self.paths.root}; list runs with "
                "`runner runs`.",
                run_id=run_id,
            )
        return _run_dict(rows[0])

    def find_run(self, run_id: str) -> dict[str, Any] | None:
        """The run row, or None."""
        rows = self.read(_SELECT_RUN + " WHERE r.id = ?", (run_id,))
        return _run_dict(rows[0]) if rows else None

    def update_run(
        self, run_id: str, *, only_if_status: tuple[str, ...] | None = None, **fields: Any
    ) -> bool:
        """Set fields of a run; with ``only_if_status`` only while it has one of those.

        Returns True when the row was changed.
        """
        sets = []
        values: list[Any] = []
        for key, value in fields.items():
            if key not in _RUN_FIELDS:
                raise ValueError(f"unknown run field {key}")
            sets.append(f"{key} = ?")
            values.append(json.dumps(value) if key in _JSON_FIELDS and value is not None
                          else value)
        sql = f"UPDATE runs SET {', '.join(sets)} WHERE id = ?"
        values.append(run_id)
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' * len(only_if_status))})"
            values.extend(only_if_status)
        with self.write() as conn:
            return conn.execute(sql, values).rowcount > 0

    def query_runs(
        self,
        *,
        experiment: str | None = None,
        parent_id: str | None = None,
        include_children: bool = False,
        status: str | None = None,
        run_type: str | None = None,
        tags: str | dict[str, Any] | None = None,
        properties: str | dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs matching every filter, newest first."""
        where: list[str] = []
        params: list[Any] = []
        if experiment is not None:
            where.append("e.name = ?")
            params.append(experiment)
        if parent_id is not None:
            where.append("r.parent_id = ?")
            params.append(parent_id)
        elif not include_children:
            where.append("r.parent_id IS NULL")
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        if run_type is not None:
            where.append("r.type = ?")
            params.append(run_type)
        for table, spec in (("tags", tags), ("properties", properties)):
            if spec is None:
                continue
            if isinstance(spec, str):
                spec = {spec: _ANY}
            if not isinstance(spec, dict):
                raise UsageError(
                    f"{table} filter must be a key (str) or a dict of key -> value, "
                    f"not {type(spec).__name__}"
                )
            for key, value in spec.items():
                if value is _ANY:
                    where.append(f"EXISTS (SELECT 1 FROM {table} t WHERE t.run_id = r.id "
                                 "AND t.key = ?)")
                    params.append(key)
                else:
                    where.append(f"EXISTS (SELECT 1 FROM {table} t WHERE t.run_id = r.id "
                                 "AND t.key = ? AND t.value IS ?)")
                    params.extend([key, None if value is None else str(value)])
        sql = _SELECT_RUN
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created DESC, r.rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_run_dict(row) for row in self.read(sql, params)]

    def children(self, run_id: str, recursive: bool = False) -> list[dict[str, Any]]:
        """Child runs, newest first; all descendants when ``recursive``."""
        if not recursive:
            return self.query_runs(parent_id=run_id)
        rows = self.read(
            """
            WITH RECURSIVE d(id) AS (
                SELECT id FROM runs WHERE parent_id = ?
                UNION ALL SELECT r.id FROM runs r JOIN d ON r.parent_id = d.id)
            """ + _SELECT_RUN
            + " WHERE r.id IN (SELECT id FROM d) ORDER BY r.created DESC, r.rowid DESC",
            (run_id,),
        )
        return [_run_dict(row) for row in rows]

    def active_runs(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        """Runs in any of ``statuses``, oldest first (the queue's view)."""
        marks = ", ".join("?" * len(statuses))
        rows = self.read(
            _SELECT_RUN + f" WHERE r.status IN ({marks}) ORDER BY r.created, r.rowid",
            statuses,
        )
        return [_run_dict(row) for row in rows]

    def claim_slot(self, run_id: str, max_active: int, active: tuple[str, ...],
                   queued: str, claimed: str, gpus: float = 0,
                   machine_gpus: tuple[str, ...] = ()) -> bool:
        """Move a queued submitted run to ``claimed`` if a slot is free and no older
        submitted run is still queued; True when it was moved.

        A run asking for ``gpus`` is moved only when :func:`runner.core.gpus.assign` finds
        them free among ``machine_gpus``; the ids it gets are written with the move, in
        the same transaction, so no two runs are given one GPU (unless both share it)."""
        marks = ", ".join("?" * len(active))
        with self.write() as conn:
            row = conn.execute("SELECT status, created, rowid FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if row is None or row[0] != queued:
                return False
            busy = conn.execute(
                f"SELECT COUNT(*) FROM runs WHERE type = 'script' AND status IN ({marks}) "
                "AND COALESCE(json_extract(definition, '$.target'), 'local') = 'local'",
                active,
            ).fetchone()[0]
            if busy >= max_active:
                return False
            older = conn.execute(
                "SELECT 1 FROM runs WHERE type = 'script' AND status = ? AND id != ? AND "
                "(created < ? OR (created = ? AND rowid < ?)) LIMIT 1",
                (queued, run_id, row[1], row[1], row[2]),
            ).fetchone()
            if older:
                return False
            given = None
            if gpus > 0:
                from ..core import gpus as _gpus  # here: a script's store never needs it

                given = _gpus.assign(machine_gpus, self._gpu_holders(conn, active), gpus)
                if given is None:
                    return False
            conn.execute("UPDATE runs SET status = ?, gpus = ? WHERE id = ?",
                         (claimed, None if given is None else json.dumps(given), run_id))
            return True

    def gpu_holders(self, active: tuple[str, ...] | None = None) -> list[tuple[list[str], float]]:
        """``(ids, amount)`` of every active run that holds GPUs."""
        if active is None:
            from ..core.status import RunStatus

            active = tuple(RunStatus.ACTIVE)
        with _FORK_LOCK:
            return self._gpu_holders(self._conn(), active)

    @staticmethod
    def _gpu_holders(conn: sqlite3.Connection,
                     active: tuple[str, ...]) -> list[tuple[list[str], float]]:
        rows = conn.execute(
            f"SELECT gpus, json_extract(definition, '$.resources.gpu') FROM runs WHERE "
            f"gpus IS NOT NULL AND status IN ({', '.join('?' * len(active))})", active,
        ).fetchall()
        return [(json.loads(ids), float(amount or 1)) for ids, amount in rows]

    # ------------------------------------------------------- tags and properties

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        rows = _text_pairs(tags, "tag")
        with self.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in rows],
            )

    def remove_tags(self, run_id: str, keys: list[str]) -> None:
        with self.write() as conn:
            conn.executemany(
                "DELETE FROM tags WHERE run_id = ? AND key = ?", [(run_id, k) for k in keys]
            )

    def tags(self, run_id: str) -> dict[str, str | None]:
        return dict(self.read("SELECT key, value FROM tags WHERE run_id = ? ORDER BY key",
                              (run_id,)))

    def add_properties(self, run_id: str, props: dict[str, Any]) -> None:
        """Add properties; changing an existing one is an error (they are add-only)."""
        _text_pairs(props, "property")
        with self.write() as conn:
            for key, value in props.items():
                value = None if value is None else str(value)
                row = conn.execute(
                    "SELECT value FROM properties WHERE run_id = ? AND key = ?",
                    (run_id, str(key)),
                ).fetchone()
                if row is not None and row[0] != value:
                    raise UsageError(
                        f"property {key!r} of run {run_id} is already {row[0]!r}; "
                        "properties are add-only (use tags for values that change).",
                        run_id=run_id,
                    )
            conn.executemany(
                "INSERT OR IGNORE INTO properties (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, str(k), None if v is None else str(v)) for k, v in props.items()],
            )

    def properties(self, run_id: str) -> dict[str, str | None]:
        return dict(self.read(
            "SELECT key, value FROM properties WHERE run_id = ? ORDER BY key", (run_id,)))

    # --------------------------------------------------------------- parameters

    def set_params(self, run_id: str, params: dict[str, Any], source: str, *,
                   replace: bool = True) -> None:
        """Record parameters of a run (values as strings). A name given again is
        replaced, so a later source (a sweep's value) wins over an earlier one;
        with ``replace=False`` names the run has already are left as they are."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.write() as conn:
            conn.executemany(
                f"{verb} INTO params (run_id, name, value, source) VALUES (?, ?, ?, ?)",
                [(run_id, str(k), None if v is None else str(v), source)
                 for k, v in params.items()],
            )

    def params(self, run_ids: list[str]) -> dict[str, dict[str, str | None]]:
        """``{run_id: {name: value}}`` of the given runs (runs without any left out)."""
        out: dict[str, dict[str, str | None]] = {}
        for i in range(0, len(run_ids), 500):
            part = run_ids[i : i + 500]
            rows = self.read(
                f"SELECT run_id, name, value FROM params WHERE run_id IN "
                f"({', '.join('?' * len(part))}) ORDER BY run_id, name", part)
            for run_id, name, value in rows:
                out.setdefault(run_id, {})[name] = value
        return out

    # ---------------------------------------------------------------- artifacts

    def add_artifact(self, run_id: str, name: str) -> None:
        """Record an uploaded file; a name already taken is an error (write-once)."""
        try:
            with self.write() as conn:
                conn.execute(
                    "INSERT INTO artifacts (run_id, name, created) VALUES (?, ?, ?)",
                    (run_id, name, time.time()),
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise ArtifactError(
                    f"run {run_id} already has a file named {name!r}; artifacts are "
                    "write-once, upload under another name.",
                    run_id=run_id, name=name,
                ) from None
            raise

    def remove_artifact(self, run_id: str, name: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name))

    def artifacts(self, run_id: str) -> list[str]:
        return [r[0] for r in self.read(
            "SELECT name FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))]


_generation = [0]


@contextmanager
def no_connections_open() -> Iterator[None]:
    """Close every store connection of this process and keep new ones from opening
    while the block runs (used around ``os.fork()``); they reopen lazily after."""
    with _FORK_LOCK:
        while _CONNECTIONS:
            try:
                _CONNECTIONS.pop().close()
            except sqlite3.Error:  # pragma: no cover
                pass
        _generation[0] += 1
        yield


class _Any:
    def __repr__(self) -> str:  # pragma: no cover
        return "<any>"


_ANY = _Any()

_SELECT_RUN = (
    "SELECT r.id, e.name, " + ", ".join(f"r.{f}" for f in _RUN_FIELDS)
    + " FROM runs r JOIN experiments e ON e.id = r.experiment_id"
)


def _text_pairs(items: dict[str, Any], what: str) -> list[tuple[str, str | None]]:
    """``(key, value)`` strings of tags or properties; UsageError for what SQLite cannot
    hold as text (a lone surrogate), before anything is written."""
    out = []
    for key, value in items.items():
        pair = (str(key), None if value is None else str(value))
        for part, label in ((pair[0], "key"), (pair[1], "value")):
            if part is None:
                continue
            try:
                part.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise UsageError(
                    f"{what} {label} {part!r} holds a lone surrogate at index {exc.start}, "
                    "which cannot be stored as UTF-8; remove it.") from None
        out.append(pair)
    return out


def _run_dict(row: tuple) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row[0], "experiment": row[1]}
    for key, value in zip(_RUN_FIELDS, row[2:]):
        if key in _JSON_FIELDS and value is not None:
            value = json.loads(value)
        out[key] = value
    return out
