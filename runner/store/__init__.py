"""The workspace store: SQLite (runs, metrics in packed chunks, tags, properties),
artifact files, process identity and liveness (a run whose owner is gone is Failed).

One kind of I/O each; foreign errors (sqlite3, OS) are translated here into
``runner.core.errors``. Standard library only (``psutil`` where it is installed).
May import ``runner.core`` and ``runner.inrun``.
"""
