"""The store's schema, as the migrations that build it, oldest first.

``PRAGMA user_version`` is the number of migrations applied; opening a store
applies the rest (:meth:`runner.store.db.Store._migrate`). Append, never edit.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: first schema
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        parent_id TEXT,
        type TEXT NOT NULL,
        display_name TEXT,
        description TEXT,
        status TEXT NOT NULL,
        created REAL NOT NULL,
        start_time REAL,
        end_time REAL,
        owner_pid INTEGER,
        owner_start REAL,
        script_pid INTEGER,
        script_start REAL,
        snapshot_id TEXT,
        definition TEXT,
        error TEXT,
        exit_code INTEGER,
        system TEXT,
        cancel_requested REAL
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, created DESC);
    CREATE INDEX runs_by_created ON runs(created DESC);
    CREATE INDEX runs_by_parent ON runs(parent_id);
    CREATE INDEX runs_by_status ON runs(status);
    CREATE TABLE tags (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE properties (
        run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        system INTEGER NOT NULL DEFAULT 0,
        count INTEGER NOT NULL DEFAULT 0,
        last TEXT,
        UNIQUE (run_id, system, name)
    );
    CREATE TABLE metric_chunks (
        metric_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        enc TEXT NOT NULL,
        n INTEGER NOT NULL,
        data BLOB NOT NULL,
        steps TEXT,
        time REAL NOT NULL,
        PRIMARY KEY (metric_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        run_id TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    """,
    # 2: a run's parameters (script arguments, sweep values, mlflow params)
    """
    CREATE TABLE params (
        run_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT, source TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    """,
    # 3: the GPU ids a run was given (JSON list; kept after it ends, as a record)
    """
    ALTER TABLE runs ADD COLUMN gpus TEXT;
    """,
    # 4: the registry (runner/registry): models and datasets (versioned assets whose
    # files are snapshots), datastores, and the datasets each run read and wrote
    """
    CREATE TABLE asset_names (
        kind TEXT NOT NULL, name TEXT NOT NULL, last_version INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    ) WITHOUT ROWID;
    CREATE TABLE assets (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        snapshot_id TEXT NOT NULL,
        spec TEXT NOT NULL,
        description TEXT,
        run_id TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (kind, name, version)
    ) WITHOUT ROWID;
    CREATE INDEX assets_by_run ON assets(run_id);
    CREATE TABLE asset_meta (
        kind TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        field TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
        PRIMARY KEY (kind, name, version, field, key)
    ) WITHOUT ROWID;
    CREATE TABLE datastores (
        name TEXT PRIMARY KEY, path TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE run_datasets (
        run_id TEXT NOT NULL, direction TEXT NOT NULL, name TEXT NOT NULL,
        dataset TEXT, version INTEGER, snapshot_id TEXT, mode TEXT, path TEXT,
        spec TEXT NOT NULL,
        PRIMARY KEY (run_id, direction, name)
    ) WITHOUT ROWID;
    """,
    # 5: values that were accepted by log*() and could not be stored, per run
    """
    CREATE TABLE metric_losses (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        system INTEGER NOT NULL DEFAULT 0,
        count INTEGER NOT NULL,
        reason TEXT NOT NULL,
        time REAL NOT NULL
    );
    CREATE INDEX metric_losses_by_run ON metric_losses(run_id);
    """,
    # 6: metric batches sent over HTTP, stored once per (sender, seq) across retries
    """
    CREATE TABLE metric_batches (
        run_id TEXT NOT NULL, sender TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (run_id, sender, seq)
    ) WITHOUT ROWID;
    """,
    # 7: metric values made durable in one row per write while a writer with many
    # names catches up; moved into metric chunks in bounded steps (``done`` counts the
    # entries moved) by their writer, or by any reader once that writer is gone
    """
    CREATE TABLE metric_journal (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        system INTEGER NOT NULL DEFAULT 0,
        writer_pid INTEGER NOT NULL,
        writer_start REAL,
        names TEXT NOT NULL,
        counts BLOB NOT NULL,
        floats BLOB NOT NULL,
        items TEXT,
        done INTEGER NOT NULL DEFAULT 0,
        time REAL NOT NULL
    );
    CREATE INDEX metric_journal_by_run ON metric_journal(run_id);
    """,
]
