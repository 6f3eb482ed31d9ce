"""The entrypoint of a runner job on a Ray cluster: ``python -m runner.targets.wrapper``.

Ray starts it in the job's extraction folder (the snapshot, shared by every run
of the same snapshot) with the in-run package (``runner/`` and ``runner_job/``)
on ``PYTHONPATH`` through the job's ``py_modules``. This wrapper:

1. reads the job's spec (``RUNNER_JOB_SPEC``: script, arguments or command,
   interpreter, expected Python version, retry horizon) and the run context;
2. copies the extraction folder to a folder of the run's own and runs the script
   there as a child process (through the boot file local runs use: an uncaught
   exception is recorded as the run's error), its output going to the job's log;
   it announces the script's start (a ``runner-event:`` line the owner reads);
3. while the script runs, uploads what changed in ``outputs/`` and ``logs/`` every
   10 s; when the script ends, however it ends: sends the recorded error, replays
   the spool of writes the script could not send (``RUNNER_SPOOL_DIR``), and
   uploads the files changed since, retrying for ``upload_seconds`` (10 minutes by
   default) while the tracking server is down; what still could not be sent is
   announced as lost. On SIGTERM (Ray stopping the job) it waits for the script
   briefly and uploads what it can before Ray's SIGKILL
   (``RAY_JOB_STOP_WAIT_TIME_S``, set from the target's ``grace_seconds``);
4. exits with the script's exit status (128 + N for a signal N).

Standard library plus the shipped ``runner`` package only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: Seconds allowed for sending the error and the outputs after a normal end.
UPLOAD_SECONDS = 600.0
#: Seconds from SIGTERM to the end of the uploads: Ray's grace less a margin.
TERM_MARGIN = 0.5
TERM_SECONDS = 2.5
#: Files of logs/ that the run's owner writes from the job's log.
RESERVED = ("logs/std_log.txt", "logs/env_build.txt")

#: Seconds between uploads of what changed in outputs/ and logs/ while the script runs.
SYNC_SECONDS = 10.0

_terminated: list[float] = []


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class _Syncer:
    """Uploads changed files of outputs/ and logs/ every ``every`` seconds while the
    script runs, so that the end (or a cancel's short grace) has little left to send."""

    def __init__(self, client: Any, run_id: str, root: str, every: float) -> None:
        import threading

        self.every = every
        self.client = client
        self.run_id = run_id
        self.root = root
        self.sent: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runner-sync", daemon=True)

    def start(self) -> _Syncer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30.0)

    def changed(self) -> list[tuple[str, str]]:
        """Files whose size or mtime differ from what was last uploaded."""
        return [(name, path) for name, path in _record_files(self.root)
                if self.sent.get(name) != _signature(path)]

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for name, path in self.changed():
                if self._stop.is_set():
                    return
                before = _signature(path)
                if before is None or time.time_ns() - before[1] < 1_000_000_000:
                    continue  # being written right now: next round
                if _upload(self.client, self.run_id, name, path,
                           time.monotonic() + 30.0) is None and _signature(path) == before:
                    self.sent[name] = before


def _on_term(signum: int, frame: object) -> None:
    _terminated.append(time.monotonic())


def _say(text: str) -> None:
    sys.stderr.write(f"runner: {text}\n")
    sys.stderr.flush()


def _record_files(root: str) -> list[tuple[str, str]]:
    """``(name, path)`` of every file under ``outputs/`` and ``logs/`` (hidden ones skipped)."""
    out = []
    for top in ("outputs", "logs"):
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                if rel not in RESERVED and os.path.isfile(path):
                    out.append((rel, path))
    return out


def _upload(client: Any, run_id: str, name: str, source: str, deadline: float) -> str | None:
    """PUT one file as artifact ``name``, retrying transient failures until ``deadline``
    (monotonic). Returns None on success, else the reason it was not stored."""
    from ..api.remote_http import PermanentError, TransientError, run_path

    delay = 0.2
    attempt = 0
    while True:
        try:
            client.put_file(run_path(run_id, "artifacts", name), source,
                            timeout=max(1.0, min(60.0, deadline - time.monotonic())))
            return None
        except PermanentError as exc:
            if exc.status == 409 and attempt:  # our own earlier try got through
                return None
            return str(exc)
        except TransientError as exc:
            if time.monotonic() + delay >= deadline:
                return str(exc)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            attempt += 1
        except OSError as exc:  # the local file vanished or is unreadable
            return f"{type(exc).__name__}: {exc}"


def _interpreter(job: dict) -> str:
    wanted = job.get("interpreter") or "python"
    if wanted in ("python", "python3") or not os.path.isabs(wanted):
        return sys.executable
    return wanted


def _run_folder(run_id: str) -> str:
    """A copy of the (shared) extraction folder for this run alone; its path."""
    import shutil

    shared = os.getcwd()
    own = os.path.join(os.path.dirname(shared), f"runner-run-{run_id}")
    if not os.path.isdir(own):
        part = f"{own}.{os.getpid()}.part"
        shutil.copytree(shared, part, symlinks=True)
        os.replace(part, own)
    return own


def main() -> int:
    """Run the job's script and keep its record; returns the exit status."""
    from ..api.remote_http import (
        CA_VAR,
        SPOOL_VAR,
        HttpClient,
        PermanentError,
        TransientError,
        announce,
        replay_spool,
        run_path,
    )
    from ..inrun import context as _context
    from .ray_jobs import SPEC_VAR

    job = json.loads(os.environ.get(SPEC_VAR) or "{}")
    ctx = _context.run_context()
    if ctx is None or not ctx.tracking_uri or not job:
        _say("no run context or job spec in this job's environment (RUNNER_TRACKING_URI, "
             f"{SPEC_VAR}); submit it with runner.")
        return 2
    client = HttpClient(ctx.tracking_uri, ctx.tracking_token, os.environ.get(CA_VAR) or None)
    root = _run_folder(ctx.run_id)
    os.chdir(root)
    spool = os.path.join(root, ".runner_spool")
    os.environ[SPOOL_VAR] = spool
    error_file = os.path.join(root, ".runner_error.json")
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    grace = float(job.get("grace_seconds") or 3.0)
    global TERM_SECONDS
    TERM_SECONDS = max(0.5, grace - TERM_MARGIN)

    python = _interpreter(job)
    announce({"started": time.time(), "run": ctx.run_id})
    syncer = _Syncer(client, ctx.run_id, root,
                     float(job.get("sync_seconds") or SYNC_SECONDS)).start()
    returncode = _run_script(job, python, error_file)
    syncer.stop()

    # Send the recorded error, the spool, then the record folders, within the time left.
    horizon = float(job.get("upload_seconds") or UPLOAD_SECONDS)
    started = _terminated[0] if _terminated else time.monotonic()
    deadline = started + (TERM_SECONDS if _terminated else horizon)
    lost = {"values": 0, "writes": 0}
    error = _load_error(error_file)
    if error is not None:
        delay = 0.2
        while True:
            try:
                client.json("PATCH", run_path(ctx.run_id), {"error": error},
                            timeout=max(0.2, min(10.0, deadline - time.monotonic())))
                break
            except PermanentError as exc:
                _say(f"the tracking server refused the run's error: {exc}")
                lost["writes"] += 1
                break
            except TransientError as exc:
                if time.monotonic() + delay >= deadline:
                    _say(f"could not send the run's error to {ctx.tracking_uri}: {exc}")
                    lost["writes"] += 1
                    break
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
    for key, count in replay_spool(client, ctx.run_id, spool, deadline, say=_say).items():
        lost[key] += count
    files = syncer.changed()  # the rest went up while the script ran
    if files:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(
                lambda item: (item[0], _upload(client, ctx.run_id, item[0], item[1],
                                                           deadline)), files))
        failed = [(name, why) for name, why in results if why]
        if failed:
            lost["writes"] += len(failed)
            shown = "; ".join(f"{name}: {why}" for name, why in failed[:5])
            _say(f"{len(failed)} of {len(files)} file(s) of outputs/ and logs/ could not be "
                 f"uploaded to {ctx.tracking_uri}: {shown}")
    if lost["values"] or lost["writes"]:
        announce({"lost": lost, "run": ctx.run_id})
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)  # all delivered: the copy has done its job
    if returncode < 0:
        return 128 - returncode
    return returncode


def _run_script(job: dict, python: str, error_file: str) -> int:
    """Start the script as a child and wait for it (after SIGTERM: a short while)."""
    if job.get("python_version") and python == sys.executable:
        have = "{}.{}".format(*sys.version_info[:2])
        want = str(job["python_version"])
        if not (have == want or have.startswith(want + ".") or want.startswith(have + ".")):
            _write_error(error_file, "EnvironmentError",
                         f"The environment asks for Python {want}, but the cluster runs Python "
                         f"{have}; a Ray job uses the cluster's Python. Drop the version or "
                         f"use a cluster with Python {want}.")
            _say(f"Python {want} requested, the cluster has {have}.")
            return 1
    if python != sys.executable and not os.path.exists(python):
        _write_error(error_file, "EnvironmentError",
                     f"The user-managed interpreter {python} does not exist on the cluster's "
                     "node; set interpreter_path to 'python' (the cluster's) or to a path the "
                     "nodes have.")
        _say(f"no interpreter {python} on this node.")
        return 1
    import runner_job

    pkg = os.path.dirname(os.path.abspath(runner_job.__file__))
    env = dict(os.environ)
    env["RUNNER_COMPAT_PATH"] = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "compat")  # runner/compat, beside runner/targets
    env["RUNNER_ERROR_FILE"] = error_file
    env["PYTHONUNBUFFERED"] = "1"
    command = job.get("command")
    if command:
        argv = list(command)
        if argv[0] in ("python", "python3"):
            argv[0] = python
    else:
        argv = [python, os.path.join(pkg, "boot.py"), job["script"],
                *job.get("arguments", [])]
        if python == sys.executable and hasattr(os, "fork"):
            return _fork_script(argv[1:], env)
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        _write_error(error_file, "UserError", f"The run's program could not be started: {exc}")
        _say(f"could not start {argv[0]}: {exc}")
        return 127
    while True:
        try:
            timeout = None
            if _terminated:
                timeout = max(0.0, _terminated[0] + TERM_SECONDS / 2 - time.monotonic())
            return proc.wait(timeout=timeout if timeout is not None else 0.5)
        except subprocess.TimeoutExpired:
            if _terminated and time.monotonic() >= _terminated[0] + TERM_SECONDS / 2:
                return -signal.SIGTERM


def _fork_script(boot_argv: list[str], env: dict[str, str]) -> int:
    """Run the script in a forked copy of this interpreter (which has runner loaded
    already): one interpreter start less than a child process of its own."""
    pid = os.fork()
    if pid == 0:  # the script's process
        code: Any = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.environ.update(env)
            sys.argv = list(boot_argv)
            import runpy

            runpy.run_path(boot_argv[0], run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # noqa: BLE001 - the boot file reports the script's own errors
            import traceback

            traceback.print_exc()
        finally:
            import atexit

            atexit._run_exitfuncs()  # the run's own flushes, as at a normal exit
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if _terminated and time.monotonic() >= _terminated[0] + TERM_SECONDS / 2:
            return -signal.SIGTERM
        time.sleep(0.01)


def _write_error(path: str, code: str, message: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"error": {"code": code, "message": message}}, f)


def _load_error(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
