"""The registry's rows: versioned assets (models, datasets), datastores, run datasets.

Why it exists: registering must be atomic and safe across processes. A version is
allocated and its row written in one ``BEGIN IMMEDIATE`` transaction, from a
per-name counter (``asset_names``) that only goes up, so concurrent registrations
of one name get distinct, consecutive versions, and a deleted version's number is
never given again. Tags and properties live in ``asset_meta`` (``field`` is
``tags`` or ``properties``; properties are add-only, as in Azure ML).

SQL of the registry lives here; callers get plain dicts.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..core.errors import (
    DatasetNotFound,
    DatastoreNotFound,
    ModelNotFound,
    UsageError,
)
from ..store.db import Store

MODEL = "model"
DATASET = "dataset"
_NOT_FOUND = {MODEL: ModelNotFound, DATASET: DatasetNotFound}
_COLUMNS = "kind, name, version, snapshot_id, spec, description, run_id, created"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _row(row: tuple, meta: dict[tuple[str, int], dict[str, dict[str, str | None]]]) -> dict:
    kind, name, version, snapshot_id, spec, description, run_id, created = row
    extra = meta.get((name, version), {})
    return {"kind": kind, "name": name, "version": version, "snapshot_id": snapshot_id,
            "spec": json.loads(spec), "description": description, "run_id": run_id,
            "created": created, "tags": extra.get("tags", {}),
            "properties": extra.get("properties", {})}


def register(store: Store, kind: str, name: str, snapshot_id: str, spec: dict[str, Any], *,
             description: str | None = None, run_id: str | None = None,
             tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
             if_same: str = "new") -> dict[str, Any]:
    """Register a new version of ``name`` (or reuse the latest), atomically.

    Args:
        store: The workspace store.
        kind: ``model`` or ``dataset``.
        name: The asset's name.
        snapshot_id: Its files.
        spec: What else defines it (JSON-able).
        description: Free text.
        run_id: The run it came from.
        tags: Mutable key/values.
        properties: Add-only key/values.
        if_same: ``new``: always a new version. ``reuse``: when the latest version
            has the same files and spec, return it. ``strict``: like ``reuse``,
            but a different latest version is an error (a new name is fine).

    Returns:
        The registered (or reused) version's row.

    Raises:
        UsageError: ``strict`` and the latest version differs.
    """
    now = time.time()
    spec_text = json.dumps(spec, sort_keys=True)
    with store.write() as conn:
        if if_same != "new":
            latest = conn.execute(
                f"SELECT {_COLUMNS} FROM assets WHERE kind = ? AND name = ? "
                "ORDER BY version DESC LIMIT 1", (kind, name)).fetchone()
            if latest is not None:
                if latest[3] == snapshot_id and latest[4] == spec_text:
                    version = latest[2]
                    conn.executemany(
                        "INSERT OR REPLACE INTO asset_meta VALUES (?, ?, ?, 'tags', ?, ?)",
                        [(kind, name, version, str(k), _text(v))
                         for k, v in (tags or {}).items()])
                    return _get(conn, kind, name, version)
                if if_same == "strict":
                    raise UsageError(
                        f"{kind} {name!r} is registered already (version {latest[2]}) with "
                        "other content; pass create_new_version=True to register a new "
                        "version.", name=name)
        conn.execute(
            "INSERT INTO asset_names (kind, name, last_version) VALUES (?, ?, 1) "
            "ON CONFLICT (kind, name) DO UPDATE SET last_version = last_version + 1",
            (kind, name))
        version = conn.execute("SELECT last_version FROM asset_names WHERE kind = ? AND "
                               "name = ?", (kind, name)).fetchone()[0]
        conn.execute(f"INSERT INTO assets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (kind, name, version, snapshot_id, spec_text, description, run_id, now))
        meta = [(kind, name, version, "tags", str(k), _text(v)) for k, v in (tags or {}).items()]
        meta += [(kind, name, version, "properties", str(k), _text(v))
                 for k, v in (properties or {}).items()]
        conn.executemany("INSERT INTO asset_meta VALUES (?, ?, ?, ?, ?, ?)", meta)
        return _get(conn, kind, name, version)


def _get(conn: Any, kind: str, name: str, version: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {_COLUMNS} FROM assets WHERE kind = ? AND name = ? AND "
                       "version = ?", (kind, name, version)).fetchone()
    meta: dict[tuple[str, int], dict[str, dict[str, str | None]]] = {}
    for field, key, value in conn.execute(
            "SELECT field, key, value FROM asset_meta WHERE kind = ? AND name = ? AND "
            "version = ? ORDER BY key", (kind, name, version)):
        meta.setdefault((name, version), {}).setdefault(field, {})[key] = value
    return _row(row, meta)


def get(store: Store, kind: str, name: str, version: int | str | None = None) -> dict[str, Any]:
    """One version of ``name`` (the latest when ``version`` is None or ``"latest"``).

    Raises:
        ModelNotFound / DatasetNotFound: no such name, or no such version (the
            message lists the names or versions there are).
    """
    if version in (None, "latest"):
        version = None
    elif isinstance(version, bool) or not str(version).isdigit():
        raise UsageError(f"{kind} version must be a positive integer or 'latest', not "
                         f"{version!r}.", name=name)
    rows = store.read("SELECT version FROM assets WHERE kind = ? AND name = ? ORDER BY version",
                      (kind, name))
    versions = [r[0] for r in rows]
    error = _NOT_FOUND[kind]
    if not versions:
        known = names(store, kind)
        shown = ", ".join(known[:20]) or "none"
        raise error(f"no {kind} named {name!r} is registered in this workspace; registered "
                    f"{kind}s: {shown}.", name=name)
    wanted = versions[-1] if version is None else int(version)  # type: ignore[arg-type]
    if wanted not in versions:
        raise error(f"{kind} {name!r} has no version {wanted}; its versions are "
                    f"{', '.join(map(str, versions))}.", name=name, version=wanted)
    found = query(store, kind, name=name, version=wanted)
    return found[0]


def query(store: Store, kind: str, *, name: str | None = None, version: int | None = None,
          run_id: str | None = None) -> list[dict[str, Any]]:
    """Versions matching every filter, newest first (by name, highest version first)."""
    where = ["a.kind = ?"]
    params: list[Any] = [kind]
    for column, value in (("name", name), ("version", version), ("run_id", run_id)):
        if value is not None:
            where.append(f"a.{column} = ?")
            params.append(value)
    clause = " AND ".join(where)
    rows = store.read(f"SELECT {', '.join('a.' + c for c in _COLUMNS.split(', '))} FROM "
                      f"assets a WHERE {clause} ORDER BY a.created DESC, a.name, "
                      "a.version DESC", params)
    meta: dict[tuple[str, int], dict[str, dict[str, str | None]]] = {}
    for mname, mversion, field, key, value in store.read(
            "SELECT m.name, m.version, m.field, m.key, m.value FROM asset_meta m JOIN assets a "
            "ON a.kind = m.kind AND a.name = m.name AND a.version = m.version "
            f"WHERE {clause} ORDER BY m.key", params):
        meta.setdefault((mname, mversion), {}).setdefault(field, {})[key] = value
    return [_row(row, meta) for row in rows]


def names(store: Store, kind: str) -> list[str]:
    """Registered names of ``kind``, sorted."""
    return [r[0] for r in store.read(
        "SELECT DISTINCT name FROM assets WHERE kind = ? ORDER BY name", (kind,))]


def set_meta(store: Store, kind: str, name: str, version: int, field: str,
             values: dict[str, Any]) -> None:
    """Set tags (``field="tags"``) or add properties (add-only: a changed value is an error).

    Raises:
        UsageError: a property exists with another value.
    """
    with store.write() as conn:
        if field == "properties":
            for key, value in values.items():
                row = conn.execute(
                    "SELECT value FROM asset_meta WHERE kind = ? AND name = ? AND version = ? "
                    "AND field = 'properties' AND key = ?",
                    (kind, name, version, str(key))).fetchone()
                if row is not None and row[0] != _text(value):
                    raise UsageError(
                        f"property {key!r} of {kind} {name}:{version} is already {row[0]!r}; "
                        "properties are add-only (use tags for values that change).",
                        name=name, version=version)
        conn.executemany("INSERT OR REPLACE INTO asset_meta VALUES (?, ?, ?, ?, ?, ?)",
                         [(kind, name, version, field, str(k), _text(v))
                          for k, v in values.items()])


def remove_tags(store: Store, kind: str, name: str, version: int, keys: list[str]) -> None:
    """Remove tags ``keys`` of one version (absent keys are ignored)."""
    with store.write() as conn:
        conn.executemany("DELETE FROM asset_meta WHERE kind = ? AND name = ? AND version = ? "
                         "AND field = 'tags' AND key = ?",
                         [(kind, name, version, str(k)) for k in keys])


def set_description(store: Store, kind: str, name: str, version: int,
                    description: str | None) -> None:
    """Replace the description of one version."""
    with store.write() as conn:
        conn.execute("UPDATE assets SET description = ? WHERE kind = ? AND name = ? AND "
                     "version = ?", (description, kind, name, version))


def delete(store: Store, kind: str, name: str, version: int) -> bool:
    """Delete one version (its number is never reused); True when it existed.

    The files stay in the content store: other versions or snapshots may share them.
    """
    with store.write() as conn:
        conn.execute("DELETE FROM asset_meta WHERE kind = ? AND name = ? AND version = ?",
                     (kind, name, version))
        return conn.execute("DELETE FROM assets WHERE kind = ? AND name = ? AND version = ?",
                            (kind, name, version)).rowcount > 0


# ------------------------------------------------------------------- datastores


def add_datastore(store: Store, name: str, path: str, *, overwrite: bool = False,
                  default: bool = False) -> dict[str, Any]:
    """Register datastore ``name`` as the folder ``path``; returns its row.

    Raises:
        UsageError: the name is taken by another folder and ``overwrite`` is False.
    """
    with store.write() as conn:
        row = conn.execute("SELECT path FROM datastores WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] != path and not overwrite:
            raise UsageError(f"datastore {name!r} is registered already for {row[0]!r}; pass "
                             "overwrite=True to point it at another folder.", name=name)
        if default:
            conn.execute("UPDATE datastores SET is_default = 0")
        conn.execute(
            "INSERT INTO datastores (name, path, is_default, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET path = excluded.path, "
            "is_default = MAX(is_default, excluded.is_default)",
            (name, path, int(default), time.time()))
    return get_datastore(store, name)


def get_datastore(store: Store, name: str) -> dict[str, Any]:
    """The datastore ``name``.

    Raises:
        DatastoreNotFound: it is not registered (the message lists those that are).
    """
    rows = store.read("SELECT name, path, is_default, created FROM datastores WHERE name = ?",
                      (name,))
    if not rows:
        known = ", ".join(d["name"] for d in datastores(store)) or "none"
        raise DatastoreNotFound(
            f"no datastore named {name!r} in this workspace; registered datastores: {known}. "
            "Register a folder with Datastore.register_local(ws, name, path).", name=name)
    return _store_dict(rows[0])


def datastores(store: Store) -> list[dict[str, Any]]:
    """Every datastore, by name."""
    return [_store_dict(r) for r in store.read(
        "SELECT name, path, is_default, created FROM datastores ORDER BY name")]


def set_default_datastore(store: Store, name: str) -> None:
    """Make ``name`` the default datastore.

    Raises:
        DatastoreNotFound: it is not registered.
    """
    get_datastore(store, name)
    with store.write() as conn:
        conn.execute("UPDATE datastores SET is_default = (name = ?)", (name,))


def unregister_datastore(store: Store, name: str) -> None:
    """Forget datastore ``name`` (its folder and files stay)."""
    with store.write() as conn:
        conn.execute("DELETE FROM datastores WHERE name = ?", (name,))


def _store_dict(row: tuple) -> dict[str, Any]:
    return {"name": row[0], "path": row[1], "is_default": bool(row[2]), "created": row[3]}


# ----------------------------------------------------------------- run datasets


def record_run_datasets(store: Store, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Record what a run reads (``direction="input"``) or writes (``"output"``)."""
    with store.write() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO run_datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, r["direction"], r["name"], r.get("dataset"), r.get("version"),
              r.get("snapshot_id"), r.get("mode"), r.get("path"),
              json.dumps(r.get("spec") or {}, sort_keys=True)) for r in rows])


def run_datasets(store: Store, run_id: str, direction: str | None = None) -> list[dict[str, Any]]:
    """What a run read or wrote, by direction and name."""
    sql = ("SELECT direction, name, dataset, version, snapshot_id, mode, path, spec "
           "FROM run_datasets WHERE run_id = ?")
    params: list[Any] = [run_id]
    if direction is not None:
        sql += " AND direction = ?"
        params.append(direction)
    return [{"direction": d, "name": n, "dataset": ds, "version": v, "snapshot_id": s,
             "mode": m, "path": p, "spec": json.loads(spec)}
            for d, n, ds, v, s, m, p, spec in store.read(sql + " ORDER BY direction, name",
                                                          params)]
