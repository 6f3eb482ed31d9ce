"""Listening on an address: the one rule about exposure (loopback or a token).

Shared by the studio and the tracking server. Whoever reaches either can read
(or, for the server, write) the workspace's runs, so any address but loopback
needs a token; the socket is bound before the web server starts, so a port in
use is a clear error and port 0 gives a free port whose number is known at once.
"""

from __future__ import annotations

from .errors import UsageError


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
