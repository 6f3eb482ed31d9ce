"""Serving the studio: check the address, bind, run uvicorn, record ``studio.json``.

Why it exists: ``runner studio`` serves in the foreground until Ctrl-C, while
tests and the benchmark need the same server on a free port in a background
thread that they can stop. :class:`StudioServer` does both; the socket is bound
before uvicorn starts, so a port in use is a clear :class:`~runner.UsageError`
and port 0 gives a free port whose number is known at once.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from ..core.net import require_token
from ..server.listen import bind as _bind
from . import discovery as _discovery

if TYPE_CHECKING:
    from ..api.workspace import Workspace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve an address other machines can reach without a token.

    Raises:
        UsageError: ``host`` is not a loopback address and no token was given.
    """
    require_token(host, token,
                  f"serving on {host} lets other machines reach this workspace; give a token "
                  "with --token (or RUNNER_STUDIO_TOKEN), or serve on 127.0.0.1.")


def _quiet_server(uvicorn: Any) -> Any:
    """uvicorn's Server without its signal handling: :meth:`StudioServer.serve` handles
    Ctrl-C and SIGTERM itself, so that serving returns (and cleans up) instead of the
    signal being raised again once uvicorn has shut down."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # uvicorn >= 0.29
            yield

        def install_signal_handlers(self) -> None:  # older uvicorn
            pass

    return Server


class StudioServer:
    """The studio of one workspace, served by uvicorn on one socket.

    Args:
        workspace: the workspace to serve.
        host: the address to listen on (loopback by default).
        port: the port (0: any free one).
        token: the token every request must carry; required off loopback.
        register: write ``.runner/studio.json`` while serving, so
            ``run.get_portal_url()`` points here.

    Raises:
        UsageError: a non-loopback ``host`` without a token, or the port is taken.
    """

    def __init__(self, workspace: Workspace, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 token: str | None = None, register: bool = True) -> None:
        check_binding(host, token)
        import uvicorn

        from .app import create_app

        self.workspace = workspace
        self.host = host
        self.token = token
        self.register = register
        self.app = create_app(workspace, token=token)
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=1,
                                lifespan="off")
        self._server = _quiet_server(uvicorn)(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``."""
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        if host in ("0.0.0.0", "[::]"):
            host = socket.gethostname()
        return f"http://{host}:{self.port}"

    def serve(self, on_started: Any = None) -> None:
        """Serve in this thread until stopped (Ctrl-C in the main thread).

        Args:
            on_started: called with no arguments once requests are answered.
        """
        if on_started is not None:
            threading.Thread(target=self._notify, args=(on_started,), daemon=True,
                             name="runner-studio-started").start()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self._on_signal)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.register:
                _discovery.write(self.workspace.paths, self.url, host=self.host,
                                 port=self.port, token_required=self.token is not None)
            self._server.run(sockets=[self._socket])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.register:
                _discovery.remove(self.workspace.paths, self.url)
            self._socket.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Ctrl-C or SIGTERM: stop gracefully (a second one: at once), then return."""
        if self._server.should_exit:
            self._server.force_exit = True
        self.app.state.stopping.set()
        self._server.should_exit = True

    def _notify(self, callback: Any) -> None:
        while not self._server.started and not self._server.should_exit:
            time.sleep(0.02)
        if self._server.started:
            callback()

    def start(self, timeout: float = 10.0) -> StudioServer:
        """Serve in a background thread; returns once requests are answered."""
        self._thread = threading.Thread(target=self.serve, daemon=True,
                                        name=f"runner-studio-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the studio did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (open live streams are closed) and wait for the thread."""
        self.app.state.stopping.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> StudioServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
