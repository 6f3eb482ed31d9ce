"""The HTTP side of a run on another machine: the tracking server's client, the
per-run token, and the job-local spool of writes that could not be sent yet.

Standard library only (it runs inside the job, where only the interpreter and the
shipped ``runner`` package are available).

The spool: when a script ends while the tracking server cannot be reached, its
sender does not drop what is still queued; it writes it to ``RUNNER_SPOOL_DIR``
(one JSON line per write, metric batches with their sender id and sequence
number, files copied beside). The job's wrapper, which outlives the script,
replays the spool with :func:`replay_spool` for as long as the outputs upload
retries; the server stores a ``(sender, seq)`` batch once, durably, so a replay of
a batch whose answer was lost adds nothing. What still cannot be sent is counted
and announced on stderr as a ``runner-event:`` line, which the run's owner reads
from the job's log and records, even while the server is down.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any

#: Seconds one HTTP request may take.
REQUEST_TIMEOUT = 10.0
#: The environment variable naming the job-local spool folder (set by the job's wrapper).
SPOOL_VAR = "RUNNER_SPOOL_DIR"
#: The environment variable holding the PEM of the tracking server's CA, if any.
CA_VAR = "RUNNER_TRACKING_CA"
#: How a line of the job's log that is meant for the run's owner starts.
EVENT_PREFIX = "runner-event: "
API = "/api/v1"


class TransientError(Exception):
    """A request that may succeed later: no connection, a timeout, a 5xx, 408 or 429."""


class PermanentError(Exception):
    """A request the server refused (4xx): retrying would not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class HttpClient:
    """A tiny JSON-over-HTTP client of the tracking server (urllib, bearer token).

    ``ca_pem``: the PEM text of the CA an ``https://`` server's certificate is
    checked against (a self-signed certificate, say); the system's CAs otherwise.
    """

    def __init__(self, base_url: str, token: str | None = None,
                 ca_pem: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self._ssl = None
        if ca_pem and self.base.lower().startswith("https://"):
            import ssl

            self._ssl = ssl.create_default_context(cadata=ca_pem)

    def request(self, method: str, path: str, body: bytes | IO[bytes] | None = None, *,
                headers: dict[str, str] | None = None, length: int | None = None,
                timeout: float = REQUEST_TIMEOUT) -> bytes:
        """Send one request; return the response body.

        Raises:
            TransientError: worth retrying later.
            PermanentError: the server refused it.
        """
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if length is not None:
            all_headers["Content-Length"] = str(length)
        req = urllib.request.Request(self.base + path, data=body, method=method,  # type: ignore[arg-type]
                                     headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=max(timeout, 0.05),
                                        context=self._ssl) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")[:500]
            try:
                text = json.loads(text).get("error", text)
            except (ValueError, AttributeError):
                pass
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientError(f"HTTP {exc.code}: {text}") from None
            raise PermanentError(exc.code, text) from None
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad status line
            raise TransientError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None

    def json(self, method: str, path: str, payload: Any = None, *,
             timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send ``payload`` as JSON (NaN and infinities allowed), return the parsed answer."""
        body = None if payload is None else json.dumps(payload).encode()
        raw = self.request(method, path, body, timeout=timeout,
                           headers={"Content-Type": "application/json"} if body else None)
        return json.loads(raw) if raw else None

    def put_file(self, path: str, source: str | os.PathLike[str], *,
                 timeout: float = REQUEST_TIMEOUT * 6) -> Any:
        """Stream a file as the body of a PUT (never read into memory whole)."""
        size = os.path.getsize(source)
        with open(source, "rb") as f:
            raw = self.request("PUT", path, f, length=size, timeout=timeout,
                               headers={"Content-Type": "application/octet-stream"})
        return json.loads(raw) if raw else None


#: Prefix of a per-run token: ``runner-run:<run id>:<HMAC-SHA256 of the run id>``.
RUN_TOKEN_PREFIX = "runner-run:"


def per_run_token(workspace_token: str, run_id: str) -> str:
    """The token that lets one run write its own record and nothing else.

    Derived from the workspace token (an HMAC of the run id), so the server checks
    it without storing anything, and the workspace token itself never leaves the
    submitting machine.
    """
    import hashlib
    import hmac

    mac = hmac.new(workspace_token.encode(), f"run:{run_id}".encode(), hashlib.sha256)
    return f"{RUN_TOKEN_PREFIX}{run_id}:{mac.hexdigest()}"


def run_of_token(workspace_token: str, token: str) -> str | None:
    """The run a per-run token was issued for, None if it is not a valid one."""
    import hmac

    if not token.startswith(RUN_TOKEN_PREFIX):
        return None
    run_id, _, _mac = token[len(RUN_TOKEN_PREFIX):].rpartition(":")
    if not run_id:
        return None
    return run_id if hmac.compare_digest(per_run_token(workspace_token, run_id).encode(),
                                         token.encode()) else None


def run_path(run_id: str, *parts: str) -> str:
    """``/api/v1/runs/<run_id>/<parts>`` with every part URL-quoted (``/`` kept in names)."""
    quoted = [urllib.parse.quote(run_id, safe="")] + [urllib.parse.quote(p) for p in parts]
    return f"{API}/runs/" + "/".join(quoted)


def announce(event: dict[str, Any], out: IO[str] | None = None) -> None:
    """Write one ``runner-event:`` line to stderr (the job's log) for the run's owner."""
    import sys

    stream = out or sys.__stderr__ or sys.stderr
    try:
        stream.write(EVENT_PREFIX + json.dumps(event, separators=(",", ":")) + "\n")
        stream.flush()
    except Exception:  # noqa: BLE001 - stderr closed: nothing else to tell
        pass


def parse_event(line: str) -> dict[str, Any] | None:
    """The event of a ``runner-event:`` log line, None for any other line."""
    at = line.find(EVENT_PREFIX)
    if at < 0:
        return None
    try:
        event = json.loads(line[at + len(EVENT_PREFIX):])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def spool_write(spool_dir: str, sender: str, records: list[dict[str, Any]]) -> None:
    """Append ``records`` (JSON-ready writes, in order) to ``<spool_dir>/<sender>.jsonl``."""
    os.makedirs(spool_dir, exist_ok=True)
    with open(os.path.join(spool_dir, f"{sender}.jsonl"), "a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def send_record(client: HttpClient, run_id: str, record: dict[str, Any], *,
                attempt: int, timeout: float) -> None:
    """Send one spooled write (a retry of a duplicate is answered, not stored twice).

    Raises:
        TransientError: worth retrying later.
        PermanentError: the server refused it.
    """
    kind, data = record["kind"], record["data"]
    if kind == "metrics":
        client.json("POST", run_path(run_id, "metrics"),
                    {"sender": record["sender"], "seq": record["seq"], "metrics": data},
                    timeout=timeout)
    elif kind == "file":
        try:
            client.put_file(run_path(run_id, "artifacts", data["name"]), data["path"],
                            timeout=max(timeout, 1.0))
        except PermanentError as exc:
            if not (exc.status == 409 and attempt > 1):
                raise
    elif kind == "patch":
        client.json("PATCH", run_path(run_id), data, timeout=timeout)
    else:
        client.json("POST", run_path(run_id, kind), data, timeout=timeout)


def replay_spool(client: HttpClient, run_id: str, spool_dir: str, deadline: float,
                 say: Any = None) -> dict[str, int]:
    """Send every spooled write in order, retrying until ``deadline`` (monotonic).

    Returns how many metric values and other writes could not be sent.
    """
    lost = {"values": 0, "writes": 0}
    try:
        names = sorted(n for n in os.listdir(spool_dir) if n.endswith(".jsonl"))
    except FileNotFoundError:
        return lost
    for name in names:
        with open(os.path.join(spool_dir, name), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        if say is not None and records:
            say(f"sending {len(records)} spooled write(s) of run {run_id} that the script "
                "could not send")
        for record in records:
            why = _send_until(client, run_id, record, deadline)
            if why is not None:
                lost["values" if record["kind"] == "metrics" else "writes"] += \
                    int(record.get("values", 1))
                if say is not None:
                    say(f"a spooled {record['kind']} write of run {run_id} was not sent: {why}")
    return lost


def _send_until(client: HttpClient, run_id: str, record: dict[str, Any],
                deadline: float) -> str | None:
    delay = 0.2
    attempt = 0
    while True:
        attempt += 1
        try:
            send_record(client, run_id, record, attempt=attempt,
                        timeout=max(0.5, min(REQUEST_TIMEOUT, deadline - time.monotonic())))
            return None
        except PermanentError as exc:
            return str(exc)
        except TransientError as exc:
            if time.monotonic() + delay >= deadline:
                return str(exc)
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 5.0)
        except OSError as exc:  # a spooled file vanished
            return f"{type(exc).__name__}: {exc}"
