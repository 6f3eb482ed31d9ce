"""The registry: models, datasets and datastores of a workspace, on disk and in SQLite.

A model version and a dataset version are *assets*: a row in the store (name,
version, spec, tags, properties, the run they came from) whose files are a
snapshot in the content store, so the same bytes are stored once and a version
never changes after it is registered. Versions are allocated per name inside
one ``BEGIN IMMEDIATE`` transaction. Datastores are named local folders.

``content`` freezes files into snapshots and copies them out; ``assets`` holds
the SQL. May import ``runner.core``, ``runner.store`` and ``runner.snapshot``.
"""
