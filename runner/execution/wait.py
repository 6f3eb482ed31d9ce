"""``run.wait_for_completion`` and live output, for a run in any process.

Waiting wakes on file events in the run folder (the supervisor touches
``.sys/status``; the script appends to ``logs/``) with a slow poll as a safety
net. In the submitting process the supervisor's exit wakes it directly, and its
output is read every ``STREAM_POLL`` seconds instead: closing an inotify
instance that has seen events waits for a kernel grace period (often 10-20 ms),
which every ``runner submit`` would pay once its run has ended.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, TextIO

from ..api import hooks
from ..core.errors import RunFailed
from ..core.status import FAILED, RunStatus
from . import control as _control
from .logs import LOG_ORDER, LogFollower, Watcher

if TYPE_CHECKING:
    from ..api.run import Run

#: Seconds between status checks when no file event comes.
POLL = 0.5
#: Seconds between reads of the logs of a run this process started, while streaming.
STREAM_POLL = 0.1
#: Seconds between checks that a waited-for run still has an owner following it.
REATTACH_CHECK = 2.0


class _Streamer:
    """Prints the run's logs in order, with a header when it moves to the next log."""

    def __init__(self, run: Run, out: TextIO, headers: bool = True) -> None:
        self.out = out
        self.headers = headers
        self.followers = [(name, LogFollower(run.folder / name)) for name in LOG_ORDER]
        self.current: str | None = None

    def pump(self, final: bool = False) -> None:
        for name, follower in self.followers:
            lines = follower.read(final=final)
            if not lines:
                continue
            if name != self.current and self.headers:
                self.current = name
                self.out.write(f"\nStreaming {name}\n{'=' * (len(name) + 10)}\n\n")
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()


def wait_for_completion(run: Run, *, show_output: bool = False,
                        wait_post_processing: bool = False, raise_on_error: bool = True,
                        out: TextIO | None = None) -> dict[str, Any]:
    """Wait for ``run`` to reach a terminal status; see ``Run.wait_for_completion``."""
    out = out or sys.stdout
    reaped = _control.done_event(run.id)
    streamer = _Streamer(run, out) if show_output else None
    if show_output:
        out.write(f"RunId: {run.id}\nWeb View: {run.get_portal_url()}\n")
        out.flush()
    watcher = None
    if reaped is None:  # another process's run: its files' events wake us
        watcher = Watcher([run.folder / ".sys", run.folder / "logs"])
    next_check = time.monotonic() + REATTACH_CHECK
    try:
        while True:
            status = run.get_status()
            if streamer:
                streamer.pump()
            if status in RunStatus.TERMINAL:
                break
            if (reaped is None or reaped.is_set()) and time.monotonic() >= next_check:
                # A run on a cluster whose owner died: follow its job again, or wait forever.
                next_check = time.monotonic() + REATTACH_CHECK
                hooks.call("reattach", run)
            if watcher is None and reaped is not None and not reaped.is_set():
                reaped.wait(STREAM_POLL if streamer else POLL)
            elif watcher is None:  # the owner is gone but no end is recorded yet
                time.sleep(POLL)
            else:
                watcher.wait(POLL)
    finally:
        if watcher is not None:
            watcher.stop()
    details = run.get_details()
    reason = canceled_reason(details)
    lost = [w["message"] for w in details.get("warnings") or [] if w.get("code") == "MetricsLost"]
    if streamer:
        streamer.pump(final=True)
        out.write(f"\nExecution Summary\n=================\nRunId: {run.id}\n"
                  f"Web View: {run.get_portal_url()}\nStatus: {details['status']}\n")
        if reason:
            out.write(f"Reason: {reason}\n")
        if details.get("error") and (details["status"] == FAILED and not raise_on_error):
            out.write("\nError:\n" + json.dumps(details["error"], indent=4) + "\n")
        for message in lost:
            out.write(f"Warning: {message}\n")
        out.write("\n")
        out.flush()
    if lost:
        warnings.warn(f"run {run.id} lost metric values: " + "; ".join(lost[:5])
                      + (f"; ... ({len(lost) - 5} more)" if len(lost) > 5 else ""),
                      RuntimeWarning, stacklevel=3)
    if details["status"] == FAILED and raise_on_error:
        error = details.get("error") or {}
        message = (error.get("error") or {}).get("message") or \
            "Detailed error not set on the Run. Please check the logs for details."
        raise RunFailed(
            f"Run {run.id} failed: {message} (log: {failure_log(run.folder, error)})",
            run_id=run.id, error=error, details=details,
        )
    return details


def failure_log(folder: Any, error: dict[str, Any]) -> Any:
    """The log a failure points to: the environment build's for a build failure."""
    code = (error.get("error") or {}).get("code")
    build = folder / "logs" / "env_build.txt"
    if code == "EnvironmentError" and build.exists():
        return build
    return folder / "logs" / "std_log.txt"


def canceled_reason(details: dict[str, Any]) -> str | None:
    """Why a Canceled run was canceled, when it was not by request (the time limit)."""
    if details.get("status") != "Canceled":
        return None
    error = (details.get("error") or {}).get("error") or {}
    return error.get("message") if error.get("code") == "RunTimeout" else None


def follow_logs(run: Run, out: TextIO) -> None:
    """Print the run's logs from the start, then as they grow, until the run ends."""
    streamer = _Streamer(run, out, headers=False)
    with Watcher([run.folder / ".sys", run.folder / "logs"]) as watcher:
        while True:
            status = run.get_status()
            streamer.pump()
            if status in RunStatus.TERMINAL:
                break
            watcher.wait(POLL)
    streamer.pump(final=True)
