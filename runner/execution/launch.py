"""How a submitted script is started: a pure plan, and one small spawn.

``plan_launch`` decides argv, environment, working folder and log file from
the run's definition; ``spawn`` starts it in its own session with stdout and
stderr going straight into ``logs/std_log.txt`` (one file, in write order, no
pipe to drain, nothing lost if the supervisor dies).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..inrun import context as _context
from .shim import Shim, python_path

_PYTHON_NAMES = {"python", "python3"}


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to start a run's program."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    error_file: Path


def plan_launch(
    *,
    run_id: str,
    experiment: str,
    workspace_root: Path,
    run_dir: Path,
    python: str,
    script: str | None,
    arguments: list[str],
    command: list[str] | None,
    env_vars: dict[str, str],
    shim: Shim,
    base_env: dict[str, str],
) -> LaunchPlan:
    """Decide how to start a run.

    A script runs as ``python <boot> SCRIPT ARGS`` (the boot file records an
    uncaught exception); a command runs as given, with a leading ``python``
    meaning the run's interpreter.
    """
    error_file = run_dir / ".sys" / "error.json"
    env = dict(base_env)
    env.update(_context.mlflow_environ(str(workspace_root), run_id))
    env.update(env_vars)
    env.update(_context.context_environ(str(workspace_root), run_id, experiment))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = python_path(shim, base_env.get("PYTHONPATH"))
    env["RUNNER_COMPAT_PATH"] = str(shim.compat)
    env["RUNNER_ERROR_FILE"] = str(error_file)
    if command:
        argv = list(command)
        if argv[0] in _PYTHON_NAMES:
            argv[0] = python
    else:
        assert script is not None
        argv = [python, str(shim.boot), script, *arguments]
    return LaunchPlan(argv=argv, env=env, cwd=run_dir, log=run_dir / "logs" / "std_log.txt",
                      error_file=error_file)


def spawn(plan: LaunchPlan) -> subprocess.Popen:
    """Start the planned program in a new session; output appends to the log file.

    Raises:
        OSError: the program cannot be started (missing, not executable).
    """
    return _spawn(plan, plan.env, ())


def spawn_held(plan: LaunchPlan) -> tuple[subprocess.Popen, int]:
    """Start a planned *script* whose interpreter then waits before running it.

    The interpreter's own start (tens of milliseconds) overlaps the rest of the
    run's preparation (its working copy). Returns the process and the descriptor
    to :func:`release` it with; closing that descriptor instead (or the
    supervisor dying) makes it exit without running the script.

    Raises:
        OSError: the program cannot be started (missing, not executable).
    """
    read_end, write_end = os.pipe()
    try:
        proc = _spawn(plan, {**plan.env, "RUNNER_HOLD_FD": str(read_end)}, (read_end,))
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return proc, write_end


def release(fd: int) -> None:
    """Let a held script run (see :func:`spawn_held`).

    A process that is gone already (killed meanwhile) is reaped as any other: its
    exit status says what happened.
    """
    try:
        os.write(fd, b"1")
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _spawn(plan: LaunchPlan, env: dict[str, str], pass_fds: tuple[int, ...]
           ) -> subprocess.Popen:
    plan.log.parent.mkdir(parents=True, exist_ok=True)
    plan.error_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(plan.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return subprocess.Popen(
            plan.argv, cwd=plan.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=fd, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            pass_fds=pass_fds,
        )
    finally:
        os.close(fd)
