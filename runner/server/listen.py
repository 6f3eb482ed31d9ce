"""The one way the studio and the tracking server bind their socket.

The socket is bound before the web server starts, so a port in use is a clear
error, and port 0 gives a free port whose number is known at once.
"""

from __future__ import annotations

import socket

from ..core.errors import UsageError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one).

    Raises:
        UsageError: the address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port "
            "with --port (0 picks a free one) or another --host.",
            host=host, port=port,
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock
