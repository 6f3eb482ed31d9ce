"""Run statuses, their order, and the pure decisions made about them.

Nothing here does I/O: the supervisor and the readers ask these functions what a
set of facts (an exit code, a signal, a cancel request, a dead owner) means and
then write the answer themselves.
"""

from __future__ import annotations

import signal
from typing import Any

NOT_STARTED = "NotStarted"
QUEUED = "Queued"
PREPARING = "Preparing"
RUNNING = "Running"
FINALIZING = "Finalizing"
CANCEL_REQUESTED = "CancelRequested"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"


class RunStatus:
    """The status strings of a run, as Azure ML v1 spells them."""

    NOT_STARTED = NOT_STARTED
    QUEUED = QUEUED
    PREPARING = PREPARING
    RUNNING = RUNNING
    FINALIZING = FINALIZING
    CANCEL_REQUESTED = CANCEL_REQUESTED
    COMPLETED = COMPLETED
    FAILED = FAILED
    CANCELED = CANCELED

    ALL = (
        NOT_STARTED, QUEUED, PREPARING, RUNNING, FINALIZING,
        CANCEL_REQUESTED, COMPLETED, FAILED, CANCELED,
    )
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
    #: Statuses that hold one of the workspace's ``max_concurrent_runs`` slots.
    ACTIVE = frozenset({PREPARING, RUNNING, FINALIZING, CANCEL_REQUESTED})


def normalize_status(value: str) -> str:
    """Return the canonical spelling of a status given in any case.

    Raises:
        ValueError: for a string that is not a status.
    """
    for status in RunStatus.ALL:
        if status.lower() == value.lower():
            return status
    raise ValueError(
        f"unknown status {value!r}; use one of: {', '.join(RunStatus.ALL)}"
    )


def error_record(
    message: str,
    *,
    code: str = "UserError",
    details: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build the ``error`` field of a run's details in Azure ML's shape."""
    inner: dict[str, Any] = {"code": code, "message": message}
    if details:
        inner["details"] = details
    inner.update({k: v for k, v in extra.items() if v is not None})
    return {"error": inner}


def exception_error(exc: BaseException, traceback_text: str | None = None) -> dict[str, Any]:
    """The error record of a run whose program raised ``exc``."""
    name = type(exc).__name__
    message = f"User program failed with {name}: {exc}"
    tail = None
    if traceback_text:
        tail = "\n".join(traceback_text.rstrip().splitlines()[-12:])
    return error_record(message, details=tail, debugType=name, debugMessage=str(exc))


def signal_name(signum: int) -> str:
    """``SIGKILL`` for 9, or ``signal 42`` for numbers the platform has no name for."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def status_from_exit(
    returncode: int | None,
    *,
    canceled: bool = False,
    timeout_seconds: float | None = None,
    script_error: dict[str, Any] | None = None,
    log_tail: str | None = None,
) -> tuple[str, dict[str, Any] | None]:
    """Decide a submitted run's terminal status and error from the facts.

    Args:
        returncode: the script's exit status as ``Popen.returncode`` gives it
            (negative for a signal); None if it never started.
        canceled: a cancel was requested before the process ended.
        timeout_seconds: set when ``max_run_duration_seconds`` ended the run.
        script_error: the error the script itself recorded (uncaught exception).
        log_tail: the last lines of the run's output, quoted in a bare failure.

    Returns:
        ``(status, error)`` where error is None for Completed.
    """
    if timeout_seconds is not None:
        return CANCELED, error_record(
            f"Run exceeded max_run_duration_seconds={timeout_seconds:g} and was canceled.",
            code="RunTimeout",
            exitCode=returncode,
        )
    if canceled:
        return CANCELED, None
    if returncode == 0:
        return COMPLETED, None
    if script_error:
        inner = dict(script_error.get("error", script_error))
        inner.setdefault("exitCode", returncode)
        return FAILED, {"error": inner}
    if returncode is None:
        return FAILED, error_record("The run's program could not be started.", code="SystemError")
    if returncode < 0:
        name = signal_name(-returncode)
        return FAILED, error_record(
            f"User program was killed by {name}.",
            details=log_tail,
            signal=name,
            exitCode=returncode,
        )
    return FAILED, error_record(
        f"User program failed with exit code {returncode}.",
        details=log_tail,
        exitCode=returncode,
    )
