"""Who may talk to the studio, and which writes a page may make.

Why it exists: the studio shows everything a workspace holds and can cancel
runs, so it must not be reachable by other machines or other web sites by
accident. The rules, all enforced here and tested:

* **Loopback by default.** Served on 127.0.0.1 (or ::1, localhost) with no
  token, a request is only answered when its ``Host`` header names a loopback
  host: a web site that rebinds its DNS name to 127.0.0.1 (DNS rebinding) gets
  403, not the workspace.
* **A token off loopback.** Any other address needs a token (``--token`` or
  ``RUNNER_STUDIO_TOKEN``) and then every request must carry it, as
  ``Authorization: Bearer <token>``, as the studio's cookie, or once as
  ``?token=<token>`` (a page visited so sets the cookie, ``HttpOnly`` and
  ``SameSite=Strict``, and is redirected to the same address without it).
* **Writes from the studio's own pages only.** The one write, cancelling a run,
  is a POST that must carry the per-server CSRF token embedded in each page
  (``X-CSRF-Token``) and come from the same origin (``Origin`` equal to the
  studio's, or ``Sec-Fetch-Site: same-origin``; one of them must be there).
* **Headers.** Every response forbids framing and sniffing and has a strict
  Content-Security-Policy (scripts from the studio only); files of runs are
  served sandboxed, so an HTML or SVG output cannot script the studio.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from ..core.net import is_loopback

if TYPE_CHECKING:  # plain ASGI: nothing of Starlette is needed at run time
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
#: For files of runs and snapshots: shown, never run as part of the studio.
FILE_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def new_secret() -> str:
    """A random URL-safe secret (CSRF tokens, generated tokens)."""
    return secrets.token_urlsafe(24)


def cookie_name(token: str) -> str:
    """The token cookie's name, distinct per token so studios on other ports do not clash."""
    return "runner_studio_" + hashlib.sha256(token.encode()).hexdigest()[:10]


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1:host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware applying the Host rule, the token rule and the security headers.

    Args:
        app: the application to guard.
        token: the token every request must carry, or None (loopback only).
    """

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(token) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if self.token is None and not is_loopback(_host_name(headers.get("host", ""))):
            await _plain(send, 403, "This studio only answers requests for a loopback "
                                    "host (127.0.0.1, localhost).")
            return
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                if scope["method"] == "GET" and not scope["path"].startswith("/api/"):
                    await self._redirect_with_cookie(scope, send, query)
                    return
            elif not self._authorized(headers):
                await _unauthorized(scope, send)
                return
        await self.app(scope, receive, _with_headers(send, scope))

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None and self.cookie is not None
        expected = self.token.encode()
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
                auth[7:].strip().encode(), expected):
            return True
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no credential
            return False
        morsel = jar.get(self.cookie)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), expected)

    async def _redirect_with_cookie(self, scope: Scope, send: Send,
                                    query: dict[str, str]) -> None:
        assert self.token is not None and self.cookie is not None
        query.pop("token", None)
        location = scope.get("root_path", "") + scope["path"]
        if query:
            location += "?" + urlencode(query)
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
            (b"cache-control", b"no-store"), *_COMMON_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _with_headers(send: Send, scope: Scope) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [h for h in _COMMON_HEADERS if h[0] not in names]
            if b"content-security-policy" not in names:
                extra.append((b"content-security-policy", PAGE_POLICY.encode()))
            message = dict(message)
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)
    return wrapped


async def _plain(send: Send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), *_COMMON_HEADERS]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _unauthorized(scope: Scope, send: Send) -> None:
    message = ("This studio needs its token: open the address `runner studio` printed "
               "(with ?token=...), or send 'Authorization: Bearer <token>'.")
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": "unauthorized", "message": message}).encode()
        kind = b"application/json"
    else:
        body = message.encode()
        kind = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", kind), (b"www-authenticate", b'Bearer realm="runner studio"'),
        *_COMMON_HEADERS]})
    await send({"type": "http.response.body", "body": body})


def same_origin_problem(headers: Any, scheme: str, csrf: str) -> str | None:
    """Why a state-changing request must be refused, or None when it may proceed.

    Args:
        headers: the request's headers (case-insensitive mapping).
        scheme: ``http`` or ``https``, as the request came.
        csrf: the server's CSRF token.
    """
    given = headers.get("x-csrf-token", "")
    if not given or not hmac.compare_digest(given.encode(), csrf.encode()):
        return "missing or wrong CSRF token (reload the page)"
    origin = headers.get("origin")
    fetch_site = headers.get("sec-fetch-site")
    if origin is None and fetch_site is None:
        return "no Origin or Sec-Fetch-Site header: only the studio's pages may do this"
    if origin is not None and origin != f"{scheme}://{headers.get('host', '')}":
        return f"cross-origin request from {origin!r}"
    if fetch_site is not None and fetch_site != "same-origin":
        return f"cross-site request (Sec-Fetch-Site: {fetch_site})"
    return None
