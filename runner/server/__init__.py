"""The tracking server: a workspace's store over HTTP, for runs on other machines.

``runner server`` (or :class:`ServerThread` in tests) serves a small read API
and the writes a remote run needs: metric batches, error and status, tags and
properties, artifact files (streamed to disk), heartbeats. A run on a Ray
cluster logs here through ``runner.api.remote_run``. See :mod:`runner.server.app`
for the endpoints and :mod:`runner.server.running` for how it is run.

Mountable: :func:`routes` returns the Starlette routes (all under ``/api/v1``)
and :func:`create_app` a Starlette app, so another app (the studio) can serve
them beside its own pages. Needs ``starlette`` and ``uvicorn`` (the ``server``
extra); the in-run side needs neither.

Part of the shell: it may import everything below it.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ServerThread": ".running", "check_bind": ".running", "is_loopback": ".running",
    "serve": ".running", "create_app": ".app", "routes": ".app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that `runner.server.running.is_loopback` can be used without Starlette.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runner.server' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
