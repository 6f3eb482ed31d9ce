"""The supervisor: one process that owns one submitted run from Queued to its end.

It waits for a slot (``max_concurrent_runs``), prepares the environment,
materializes the snapshot into the run folder (or takes a pristine pooled copy
of it, :mod:`runner.snapshot.workpool`), launches the script, and then
waits for one of: the script's exit (SIGCHLD), a cancel request (SIGUSR1 or
SIGTERM, and the store's ``cancel_requested``), the time limit, or the next
resource sample. Finally it keeps ``outputs/`` and ``logs/``, drops the rest of
the working copy, and writes the terminal status decided by
``_models.status_from_exit``.

Readers never talk to it: it writes the store and touches ``.sys/status`` in the
run folder (watchers wake on that file). Started by ``_submit`` either forked
from the submitting process (fast) or as ``python -m runner.execution.supervisor ROOT
RUN_ID``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..core import gpus as _gpus
from ..core.status import (
    CANCEL_REQUESTED,
    CANCELED,
    FAILED,
    PREPARING,
    QUEUED,
    RUNNING,
    RunStatus,
    error_record,
    status_from_exit,
)
from ..store import artifacts as _artifacts
from ..store import liveness as _liveness
from ..store import proc as _proc
from .gpus import machine_gpus
from .owner import RunOwner
from .samples import Samples as _Samples
from .samples import full_filesystem as _full_filesystem
from .samples import is_no_space as _is_no_space
from .samples import no_space_error as _no_space_error

#: Seconds between queue checks while waiting for a slot.
QUEUE_POLL = 0.2
#: Seconds after launch of the first resource sample.
FIRST_SAMPLE = 0.2
#: How long the supervisor keeps retrying its last write on a full disk (the run
#: stays as it was, its supervisor alive, until space comes back or this passes).
DISK_FULL_WAIT = 600.0
#: Seconds a held script that is not to run gets to leave before it is killed.
HELD_EXIT_WAIT = 10.0


class Supervisor(RunOwner):
    """Runs one submitted run to its end. See the module docstring."""

    def __init__(self, root: str, run_id: str, private: dict[str, Any] | None = None,
                 config: Any = None, ws: Any = None) -> None:
        """See :class:`~runner.execution.owner.RunOwner`; ``config`` saves reading settings."""
        super().__init__(root, run_id, private, ws)
        self.config = config if config is not None else self.ws.config
        self.proc = None
        self.returncode: int | None = None
        self.rusage = None
        self.samples = _Samples()
        self.env_hash: str | None = None
        self.script_start: float | None = None
        self.no_space: str | None = None  # where a write failed for lack of space
        self.subreaper = False  # True once the run's orphans are re-parented to us

    def _install_signals(self) -> None:
        super()._install_signals()
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the script ended: wake up

    # ------------------------------------------------------------ phases

    def run(self) -> int:
        """Supervise the run to its end; returns the process exit code."""
        self._install_signals()
        self.subreaper = _become_subreaper()
        (self.run_dir / ".sys").mkdir(parents=True, exist_ok=True)
        try:
            if not self._wait_for_slot():
                self._finish(CANCELED, None)
                return 0
            self._touch(PREPARING)
            launched = self._prepare_and_launch()
            if launched:
                self._supervise()
            self._finalize()
        except BaseException as exc:  # noqa: BLE001 - whatever happens, end the run
            text = traceback.format_exc()
            self._log(text)
            if self.proc is not None and self.returncode is None:
                self._end_script_tree()
            self._finish(FAILED, error_record(
                f"The run's supervisor failed: {type(exc).__name__}: {exc}",
                code="SystemError", details="\n".join(text.splitlines()[-12:])))
            return 70
        finally:
            if self.env_hash:
                self._release_env()
        return 0

    def _wait_for_slot(self) -> bool:
        """Wait as Queued until a slot is free; False if canceled meanwhile."""
        active = tuple(RunStatus.ACTIVE)
        limit = self.config.max_concurrent_runs
        gpus = _gpus.requested(self.definition.get("resources"))
        machine = tuple(machine_gpus(self.config)) if gpus > 0 else ()
        while True:
            if self.store.claim_slot(self.run_id, limit, active, QUEUED, PREPARING,
                                     gpus=gpus, machine_gpus=machine):
                return True
            row = self.store.get_run(self.run_id)
            if row["status"] != QUEUED or self._cancel_requested():
                return False
            others = self.store.active_runs((*active, QUEUED))
            _liveness.reconcile_all(self.store, [r for r in others if r["id"] != self.run_id])
            self._sleep(QUEUE_POLL)

    def _prepare_and_launch(self) -> bool:
        """Prepare the environment and the working copy, start the program, record it.

        A script in an environment that needs no build is started first, held
        before it runs (:func:`runner.execution.launch.spawn_held`): its
        interpreter starts while the working copy is made, and it is let go once
        the run is recorded Running.
        """
        from ..envs.prepare import canonical
        from . import launch as _launch

        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env_spec = self.private.get("environment", self.definition.get("environment"))
        managed = env_spec is not None and \
            not canonical(env_spec)["python"]["user_managed_dependencies"]
        early = not managed and self.definition.get("command") is None and \
            not self.definition.get("distributed")
        if not early:
            self._make_working_copy()
        plan = self._plan(env_spec, managed, logs)
        if plan is None:
            return False
        if not early:
            self.proc = self._spawn(_launch.spawn, plan)
            if self.proc is None:
                return False
            self._record_running()
            return True
        held = self._spawn(_launch.spawn_held, plan)
        if held is None:
            return False
        proc, release_fd = held
        try:
            self._make_working_copy()
            canceled = self._cancel_requested()
        except BaseException:
            _drop_held(proc, release_fd)
            raise
        if canceled:
            _drop_held(proc, release_fd)
            self._finish(CANCELED, None)
            return False
        self.proc = proc
        self._record_running()
        _launch.release(release_fd)
        return True

    def _make_working_copy(self) -> None:
        from ..snapshot import workpool as _workpool

        snapshot_id = self.row["snapshot_id"]
        if snapshot_id:  # a pristine pooled copy of the snapshot, or a new one
            self.workcopy = _workpool.prepare(
                self.ws.paths, snapshot_id, self.run_dir, self.config.working_copy,
                _workpool.PoolLimits(self.config.working_copy_pool_entries,
                                     self.config.working_copy_pool_bytes))

    def _plan(self, env_spec: Any, managed: bool, logs: Path) -> Any:
        """The launch plan, or None when the run ended (a failed build, a cancel)."""
        from ..envs import prepare as _envs
        from . import launch as _launch
        from . import shim as _shim

        paths = self.ws.paths
        try:
            if managed:
                with open(logs / "env_build.txt", "ab", buffering=0) as out:
                    resolved = _envs.prepare_environment(env_spec, paths, out, run_id=self.run_id,
                                                   pid=os.getpid())
            else:
                resolved = _envs.prepare_environment(env_spec, paths, None)
        except Exception as exc:  # noqa: BLE001 - the run fails with the reason
            message = getattr(exc, "message", None) or str(exc)
            self._finish(FAILED, error_record(
                f"Preparing the environment failed: {message}", code="EnvironmentError"))
            return None
        self.env_hash = resolved.env_hash
        if self.env_hash:
            self.store.add_properties(self.run_id, {"runner.environment.hash": self.env_hash})
            if resolved.freeze is not None:
                self.store.update_run(self.run_id, definition={
                    **self.definition, "environmentPackages": resolved.freeze})
        if self._cancel_requested():
            self._finish(CANCELED, None)
            return None
        plan = _launch.plan_launch(
            run_id=self.run_id, experiment=self.row["experiment"],
            workspace_root=paths.root, run_dir=self.run_dir, python=resolved.python,
            script=self.definition.get("script"),
            arguments=self.definition.get("arguments") or [],
            command=self.definition.get("command"),
            env_vars={**resolved.env_vars,
                      **self.private.get("env", self.definition.get("environmentVariables", {}))},
            shim=_shim.ensure_shim(paths), base_env=dict(os.environ),
        )
        # The GPUs the claim gave (none asked for: nothing to read).
        held = self.store.get_run(self.run_id).get("gpus") \
            if _gpus.requested(self.definition.get("resources")) > 0 else None
        if held is not None:  # exactly its GPUs, whatever the environment said
            from .gpus import GpuSampler, visible_devices

            plan.env.update(visible_devices(held))
            self.samples.gpu = GpuSampler(held)
        if self.definition.get("distributed"):  # N ranks, as distributed_job_config asks
            from .distributed import wrap

            plan = wrap(plan, self.definition["distributed"])
        return plan

    def _spawn(self, spawn: Any, plan: Any) -> Any:
        """``spawn(plan)``, or None when the program cannot be started (the run then
        ended Failed)."""
        try:
            return spawn(plan)
        except OSError as exc:
            self._finish(FAILED, error_record(
                f"The run's program could not be started: {exc}", code="UserError"))
            return None

    def _record_running(self) -> None:
        assert self.proc is not None
        self.launched_at = time.time()
        self.script_start = _proc.start_time(self.proc.pid)
        script = {"script_pid": self.proc.pid, "script_start": self.script_start}
        if self.store.update_run(self.run_id, status=RUNNING, start_time=self.launched_at,
                                 only_if_status=(PREPARING,), **script):
            self._touch(RUNNING)
        else:  # a cancel came in meanwhile: still record what to end
            self.store.update_run(self.run_id, **script)

    def _supervise(self) -> None:
        assert self.proc is not None
        limit = self.definition.get("maxRunDurationSeconds")
        deadline = self.launched_at + limit if limit else None
        interval = max(float(self.config.sample_interval_seconds), 0.05)
        next_sample = time.monotonic() + FIRST_SAMPLE
        mono_deadline = time.monotonic() + (deadline - time.time()) if deadline else None
        while True:
            if self._reap():
                return
            if self._cancel_requested():
                self._terminate()
                return
            now = time.monotonic()
            if mono_deadline is not None and now >= mono_deadline:
                self.timed_out = limit
                self._terminate()
                return
            if now >= next_sample:
                self.samples.take(self.proc.pid)
                self._write_sample()
                next_sample = now + interval
            wait = next_sample - now
            if mono_deadline is not None:
                wait = min(wait, mono_deadline - now)
            self._sleep(max(wait, 0.0))

    def _reap(self) -> bool:
        assert self.proc is not None
        try:
            pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            self.returncode = self.proc.returncode if self.proc.returncode is not None else -1
            return True
        if pid == 0:
            return False
        self.returncode = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.returncode
        self.rusage = rusage
        return True

    def _terminate(self) -> None:
        """End the script's whole tree: SIGTERM, grace, SIGKILL; then reap it."""
        assert self.proc is not None
        self.store.update_run(self.run_id, status=CANCEL_REQUESTED,
                              only_if_status=(RUNNING, PREPARING))
        self._touch(CANCEL_REQUESTED)
        self._end_script_tree()
        deadline = time.monotonic() + 5
        while not self._reap() and time.monotonic() < deadline:
            self._sleep(0.05)

    def _finalize(self) -> None:
        row = self._until_space(
            "marking the run Finalizing",
            lambda: self._enter_finalizing(RUNNING, CANCEL_REQUESTED, PREPARING))
        if row is None:
            return
        failed = self.returncode != 0
        status, error = status_from_exit(
            self.returncode,
            canceled=self.cancel_flag,
            timeout_seconds=getattr(self, "timed_out", None),
            script_error=(self._script_error() or row["error"]) if failed else None,
            log_tail=_tail(self.run_dir / "logs" / "std_log.txt") if failed else None,
        )
        if error is None and row["error"]:
            error = row["error"]  # what the script posted with run.fail(), status aside
        # What the script left running (background jobs of its group, setsid() daemons
        # re-parented to us) ends with the run.
        self._end_script_tree()
        # Metric values a killed writer had made durable in the journal go into the
        # record now, not at the first read.
        self.store.settle_journal([self.run_id])
        full = self.no_space or _full_filesystem(self.run_dir)
        if full:
            status, error = FAILED, _no_space_error(full, error)
        prune_working_copy(self.run_dir, set(self.store.artifacts(self.run_id)),
                           getattr(self, "workcopy", None))
        self._finish(status, error)

    def _finish(self, status: str, error: dict[str, Any] | None) -> None:
        self._finish_outputs(status)
        system = self.samples.summary(self.rusage)

        def write() -> None:
            final_status, final_error = status, error
            if self.no_space and (error or {}).get("error", {}).get("code") != "NoSpaceLeft":
                final_status, final_error = FAILED, _no_space_error(self.no_space, error)
            self.store.update_run(
                self.run_id, status=final_status, end_time=time.time(), error=final_error,
                exit_code=self.returncode, system=system or None,
                only_if_status=tuple(s for s in RunStatus.ALL if s not in RunStatus.TERMINAL),
            )
            self._touch(final_status)

        self._until_space("writing the run's final status", write)

    def _until_space(self, what: str, action: Any) -> Any:
        """Run ``action``; while it fails for lack of disk space, note where and retry.

        The supervisor must outlive a full disk: dying would leave the run as it
        was, later read as "supervisor died". It retries for ``DISK_FULL_WAIT``
        seconds, then lets the error through.
        """
        deadline = time.monotonic() + DISK_FULL_WAIT
        while True:
            try:
                return action()
            except Exception as exc:
                if not _is_no_space(exc) or time.monotonic() > deadline:
                    raise
                if self.no_space is None:
                    full = _full_filesystem(self.run_dir)
                    self.no_space = f"{what} in the workspace store {self.ws.paths.db}" + (
                        f"; {full}" if full else "")
                    self._log(f"no space left on device while {what}: {exc}; retrying")
                time.sleep(0.5)

    # ------------------------------------------------------------ helpers

    def _finish_outputs(self, status: str) -> None:
        """Keep the run's output datasets (registering them when it completed)."""
        from ..api.data_io import finish_outputs

        try:
            for problem in finish_outputs(self.ws, self.run_id, status):
                self._log(problem)
        except Exception:  # noqa: BLE001 - the run still ends, with its status
            self._log(traceback.format_exc())

    def _end_script_tree(self) -> None:
        """End the script, its process group and every process it left behind.

        The script is this process's unreaped child, so its pid and recorded start
        time still name it. Descendants that escaped its group (``setsid()``
        daemons) were re-parented to this process, a child subreaper
        (:func:`_become_subreaper`), and are ended as our own children.
        """
        assert self.proc is not None
        if self.subreaper and not _has_children():
            # Every process the script left (its group, its setsid() daemons) would be
            # our descendant, and the kernel says we have no child at all: nothing is left.
            return
        orphans = _orphans(self.proc.pid)
        _proc.end_tree(self.proc.pid, self.script_start,
                       grace=self.config.cancel_grace_seconds, extra=orphans)

    def _script_error(self) -> dict[str, Any] | None:
        path = self.run_dir / ".sys" / "error.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_sample(self) -> None:
        sample = self.samples.last
        if sample is None:
            return
        drained = [(name, "scalar", [value], None, None) for name, value in sample.items()]
        try:
            self.store.write_metrics(self.run_id, drained, system=True)
        except Exception as exc:
            if not _is_no_space(exc):
                raise
            # A sample is not worth ending the run for; the final status names the cause.
            if self.no_space is None:
                self.no_space = f"writing system metrics to the workspace store {self.ws.paths.db}"
                self._log(f"no space left on device writing a resource sample: {exc}")

    def _release_env(self) -> None:
        try:
            from ..envs.prepare import release_lease

            release_lease(self.ws.paths, self.env_hash, self.run_id)
        except Exception:  # noqa: BLE001
            self._log(traceback.format_exc())


def _drop_held(proc: Any, release_fd: int) -> None:
    """End a held script that is not to run: closing its pipe makes it leave unrun.

    One whose interpreter hangs before it reads the pipe is killed after
    HELD_EXIT_WAIT seconds: it is this process's unreaped child, so its pid
    cannot belong to anyone else.
    """
    import subprocess

    os.close(release_fd)
    try:
        proc.wait(timeout=HELD_EXIT_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _become_subreaper() -> bool:
    """Linux: adopt the run's orphans (PR_SET_CHILD_SUBREAPER), so none escapes the end;
    True when this process now is a subreaper.

    A daemon that double-forks and calls ``setsid()`` leaves the script's process
    group; as a subreaper, this process becomes its parent instead of init, and
    :meth:`Supervisor._end_script_tree` ends it. Elsewhere (macOS), such a daemon
    outlives the run; the README says so.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    except (OSError, AttributeError) as exc:  # pragma: no cover - no prctl: as before
        print(f"runner: cannot become a child subreaper: {exc}", file=sys.stderr)
        return False
    return True


def _has_children() -> bool:
    """True when this process has a child process, running or not yet reaped.

    One ``waitid`` that reaps nothing (``WNOWAIT``): it fails with ECHILD only when
    there is no child at all. Where it is missing, assume there are children.
    """
    if not hasattr(os, "waitid"):  # pragma: no cover - Windows
        return True
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _orphans(script_pid: int) -> list:
    """psutil handles of this process's descendants other than the script itself."""
    procs = _proc.tree(os.getpid())[1:]
    return [p for p in procs if p.pid != script_pid]


def prune_working_copy(run_dir: Path, keep: set[str], copy: Any = None) -> None:
    """Remove the working copy: all but ``outputs/``, ``logs/``, ``.sys/`` and uploads.

    ``copy``, the :class:`runner.snapshot.workpool.WorkingCopy` the run got, goes to
    the pool for the next run of its snapshot when it is provably untouched.
    """
    if copy is not None:
        copy.pool_if_pristine(keep)
    keep_top = {"outputs", "logs", ".sys"}
    keep_prefixes = {name.split("/", 1)[0] for name in keep}
    for entry in list(run_dir.iterdir()):
        name = entry.name
        if name in keep_top:
            continue
        if name in keep_prefixes:
            if entry.is_dir() and not entry.is_symlink():
                _prune_dir(entry, name, keep)
            continue
        _remove(entry)


def _prune_dir(folder: Path, rel: str, keep: set[str]) -> None:
    for entry in list(folder.iterdir()):
        sub = f"{rel}/{entry.name}"
        if sub in keep:
            continue
        if any(k.startswith(sub + "/") for k in keep) and entry.is_dir() \
                and not entry.is_symlink():
            _prune_dir(entry, sub, keep)
        else:
            _remove(entry)


def _remove(entry: Path) -> None:
    try:
        if entry.is_dir() and not entry.is_symlink():
            _artifacts.remove_tree(entry)  # iterative: a 1,200-deep chain is fine
        else:
            entry.unlink()
    except OSError:  # pragma: no cover
        pass


def _tail(path: Path, lines: int = 12) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace").rstrip()
    return "\n".join(text.splitlines()[-lines:]) or None


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.execution.supervisor WORKSPACE_ROOT RUN_ID``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m runner.execution.supervisor WORKSPACE_ROOT RUN_ID", file=sys.stderr)
        return 2
    return Supervisor(args[0], args[1]).run()


if __name__ == "__main__":
    sys.exit(main())
