"""Listening on an address: the one rule about exposure and the one way to bind.

Shared by the studio and the tracking server. Whoever reaches either can read
(or, for the server, write) the workspace's runs, so any address but loopback
needs a token; the socket is bound before the web server starts, so a port in
use is a clear error and port 0 gives a free port whose number is known at once.
"""

from __future__ import annotations

import socket

from ._exceptions import UsageError


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_token(host: str, token: str | None, message: str) -> None:
    """Raise UsageError(``message``) for a non-loopback ``host`` without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(message, host=host)


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
