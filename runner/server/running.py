"""Running the tracking server: in the foreground (``runner server``) or in a thread.

The rules about exposure live here (:func:`check_bind`): binding anything but a
loopback address needs a token, since whoever reaches the server can write into
the workspace's runs, and TLS (``certfile``/``keyfile``, served by uvicorn), since
the token would otherwise cross the network in clear text, unless ``insecure``
says that something else (a TLS-terminating reverse proxy on the same machine, an
SSH tunnel) protects the connection.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..core.net import is_loopback, require_token
from .listen import bind as _bind

#: ``runner server``'s port; ``runner studio`` has 8765, so both can run at once.
DEFAULT_PORT = 8766

__all__ = ["ServerThread", "check_bind", "check_tls", "is_loopback", "serve"]


def check_bind(host: str, token: str | None, *, tls: bool = False,
               insecure: bool = False) -> None:
    """Refuse to serve a non-loopback address without a token, or without TLS.

    Raises:
        UsageError: ``host`` is not loopback and ``token`` is empty, or there is no
            TLS and ``insecure`` is not given.
    """
    require_token(
        host, token,
        f"serving on {host} (not a loopback address) needs a token: anyone who can "
        "reach the server could write into this workspace's runs. Pass --token "
        "(e.g. --token \"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\") "
        "and give the same token to the runs (RayCluster(tracking_token=...)), or serve "
        "on 127.0.0.1.")
    if not is_loopback(host) and not tls and not insecure:
        from ..core.errors import UsageError

        raise UsageError(
            f"serving on {host} (not a loopback address) without TLS would send the token "
            "in clear text. Give --certfile and --keyfile (a certificate for the name the "
            "cluster uses), or serve on 127.0.0.1 behind a TLS reverse proxy or an SSH "
            "tunnel, or pass --insecure if the network is trusted.", host=host)


def check_tls(certfile: str | None, keyfile: str | None) -> None:
    """Both or neither, and readable.

    Raises:
        UsageError: only one is given, or one cannot be read.
    """
    from ..core.errors import UsageError

    if bool(certfile) != bool(keyfile):
        raise UsageError("give both --certfile and --keyfile (the certificate and its private "
                         "key), or neither.")
    for what, path in (("certfile", certfile), ("keyfile", keyfile)):
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{what} {path} cannot be read: {exc.strerror or exc}.",
                             path=path) from None


def _config(app: Any, log_level: str, certfile: str | None = None,
            keyfile: str | None = None) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                          timeout_keep_alive=30, server_header=False,
                          ssl_certfile=certfile, ssl_keyfile=keyfile)


class ServerThread:
    """The tracking server of ``ws`` on a daemon thread (tests, benchmarks, embedding).

    Use as a context manager, or :meth:`start` / :meth:`stop`; :attr:`url` is the
    address to give runs.
    """

    def __init__(self, ws: Any, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, *, certfile: str | None = None,
                 keyfile: str | None = None, insecure: bool = False) -> None:
        check_tls(certfile, keyfile)
        check_bind(host, token, tls=bool(certfile), insecure=insecure)
        from .app import create_app

        self.ws = ws
        self.host = host
        self.token = token
        self.scheme = "https" if certfile else "http"
        self._sock = _bind(host, port)
        self.port = self._sock.getsockname()[1]
        import uvicorn

        self._server = uvicorn.Server(_config(create_app(ws, token), "warning", certfile,
                                              keyfile))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http(s)://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving; returns once the server accepts requests."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"runner-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the tracking server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # connections still open: drop them
                self._server.force_exit = True
                self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(ws: Any, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
          log_level: str = "info", on_ready: Any = None, studio: bool = True, *,
          certfile: str | None = None, keyfile: str | None = None,
          insecure: bool = False) -> None:
    """Serve ``ws`` in the foreground until interrupted (``runner server``), with the
    studio's pages and read API beside the tracking API when ``studio`` is installed.

    Raises:
        UsageError: a non-loopback host without a token or TLS, or the port is taken.
    """
    check_tls(certfile, keyfile)
    check_bind(host, token, tls=bool(certfile), insecure=insecure)
    import uvicorn

    from .app import create_app

    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(sock.getsockname()[1])
    try:
        app = create_app(ws, token, studio=studio)
        uvicorn.Server(_config(app, log_level, certfile, keyfile)).run(sockets=[sock])
    finally:
        sock.close()
